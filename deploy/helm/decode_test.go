package helm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// objects is a rendering of the chart, every document decoded strictly into its type.
type objects struct {
	ServiceAccounts     []*corev1.ServiceAccount
	ConfigMaps          []*corev1.ConfigMap
	Secrets             []*corev1.Secret
	Services            []*corev1.Service
	DaemonSets          []*appsv1.DaemonSet
	Deployments         []*appsv1.Deployment
	ClusterRoles        []*rbacv1.ClusterRole
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
	HPAs                []*autoscalingv2.HorizontalPodAutoscaler
	PDBs                []*policyv1.PodDisruptionBudget
	PrometheusRules     []*prometheusRule
}

// prometheusRule is the Prometheus operator's PrometheusRule (monitoring.coreos.com/v1), which
// is not in this module's graph: metadata decodes into ObjectMeta, the groups go through
// Prometheus' own rule-file parser (unknown fields, bad PromQL and bad templates fail there).
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []map[string]any `json:"groups"`
	} `json:"spec"`
}

// decode splits a `helm template` output into documents and decodes each strictly (unknown or
// duplicate fields are errors) into the k8s.io/api type its apiVersion and kind name.
func decode(rendered []byte) (*objects, error) {
	strict := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	out := &objects{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	var errs []error
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		source := sourceOf(doc)
		var meta metav1.TypeMeta
		if err := sigsyaml.Unmarshal(doc, &meta); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
			continue
		}
		if meta.Kind == "" {
			if len(bytes.TrimSpace(stripComments(doc))) > 0 {
				errs = append(errs, fmt.Errorf("%s: a document without kind", source))
			}
			continue
		}
		if meta.APIVersion == "monitoring.coreos.com/v1" && meta.Kind == "PrometheusRule" {
			pr, err := decodePrometheusRule(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", source, err))
				continue
			}
			out.PrometheusRules = append(out.PrometheusRules, pr)
			continue
		}
		obj, gvk, err := strict.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s %s): %w", source, meta.APIVersion, meta.Kind, err))
			continue
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			out.ServiceAccounts = append(out.ServiceAccounts, o)
		case *corev1.ConfigMap:
			out.ConfigMaps = append(out.ConfigMaps, o)
		case *corev1.Secret:
			out.Secrets = append(out.Secrets, o)
		case *corev1.Service:
			out.Services = append(out.Services, o)
		case *appsv1.DaemonSet:
			out.DaemonSets = append(out.DaemonSets, o)
		case *appsv1.Deployment:
			out.Deployments = append(out.Deployments, o)
		case *rbacv1.ClusterRole:
			out.ClusterRoles = append(out.ClusterRoles, o)
		case *rbacv1.ClusterRoleBinding:
			out.ClusterRoleBindings = append(out.ClusterRoleBindings, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			out.HPAs = append(out.HPAs, o)
		case *policyv1.PodDisruptionBudget:
			out.PDBs = append(out.PDBs, o)
		default:
			errs = append(errs, fmt.Errorf("%s: %s is not a kind this chart renders", source, gvk))
		}
	}
	return out, errors.Join(errs...)
}

func decodePrometheusRule(doc []byte) (*prometheusRule, error) {
	var pr prometheusRule
	if err := sigsyaml.UnmarshalStrict(doc, &pr); err != nil {
		return nil, err
	}
	if len(pr.Spec.Groups) == 0 {
		return nil, errors.New("spec.groups is empty")
	}
	groups, err := sigsyaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		return nil, err
	}
	_, errs := rulefmt.Parse(groups, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, fmt.Errorf("spec.groups: %w", errors.Join(errs...))
	}
	return &pr, nil
}

// sourceOf returns the template a document came from (helm's "# Source:" line).
func sourceOf(doc []byte) string {
	for _, line := range strings.Split(string(doc), "\n") {
		if s, ok := strings.CutPrefix(line, "# Source: "); ok {
			return s
		}
	}
	return "a document"
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}
