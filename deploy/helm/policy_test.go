package helm

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// stateDir is where the agent's state directory is mounted (and, by default, its host path): the
// only host path a container may write.
const stateDir = "/var/lib/lookout"

// rootExceptions are the containers allowed to run as root, each with the reason the chart's
// README gives ("Reading pod logs: users, groups and permissions"), and the capabilities each may
// add. Every other container must run as non-root and add no capability.
var rootExceptions = map[string]struct {
	why  string
	caps []corev1.Capability
}{
	"state-dir-owner": {"the kubelet creates the state directory as root; this init container hands it to the agent's user", []corev1.Capability{"CHOWN", "DAC_READ_SEARCH"}},
}

// policy says what a rendering may contain beyond the rules every rendering follows.
type policy struct {
	// agentRoot allows the agent container to run as root: the documented CRI-O exception.
	agentRoot bool
}

// check applies the policy to a rendering and returns every violation.
func (p policy) check(o *objects) error {
	var errs []error
	type workload struct {
		kind, name string
		spec       *corev1.PodSpec
	}
	var workloads []workload
	for _, d := range o.DaemonSets {
		workloads = append(workloads, workload{"DaemonSet", d.Name, &d.Spec.Template.Spec})
	}
	for _, d := range o.Deployments {
		workloads = append(workloads, workload{"Deployment", d.Name, &d.Spec.Template.Spec})
	}
	for _, w := range workloads {
		where := w.kind + "/" + w.name
		errs = append(errs, p.checkPod(where, w.spec)...)
	}
	for _, r := range o.ClusterRoles {
		errs = append(errs, checkRules("ClusterRole/"+r.Name, r.Rules)...)
	}
	return errors.Join(errs...)
}

func (p policy) checkPod(where string, spec *corev1.PodSpec) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, args...))
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		fail("uses the host's network, PID or IPC namespace")
	}
	psc := spec.SecurityContext
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("pod securityContext.seccompProfile is not RuntimeDefault")
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	all := append(slices.Clone(spec.InitContainers), spec.Containers...)
	for _, c := range all {
		cwhere := fmt.Sprintf("container %s", c.Name)
		sc := c.SecurityContext
		if sc == nil {
			fail("%s: no securityContext", cwhere)
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			fail("%s: privileged", cwhere)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			fail("%s: allowPrivilegeEscalation is not false", cwhere)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			fail("%s: readOnlyRootFilesystem is not true", cwhere)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			fail("%s: capabilities.drop does not contain ALL", cwhere)
		}
		exception, isException := rootExceptions[c.Name]
		if sc.Capabilities != nil {
			for _, cap := range sc.Capabilities.Add {
				if !isException || !slices.Contains(exception.caps, cap) {
					fail("%s: adds capability %s", cwhere, cap)
				}
			}
		}
		if runsAsRoot(psc, sc) && !isException && !(p.agentRoot && c.Name == "agent") {
			fail("%s: may run as root (runAsNonRoot is not true, or runAsUser is 0) and is not a documented exception", cwhere)
		}
		req, lim := c.Resources.Requests, c.Resources.Limits
		if req.Cpu().IsZero() || req.Memory().IsZero() {
			fail("%s: resources.requests.cpu and .memory must be set", cwhere)
		}
		if lim.Memory().IsZero() {
			fail("%s: resources.limits.memory must be set", cwhere)
		}
		for _, m := range c.VolumeMounts {
			path, ok := hostPaths[m.Name]
			if !ok {
				continue
			}
			if !m.ReadOnly && m.MountPath != stateDir {
				fail("%s: hostPath %s is mounted writable at %s (only the state directory, at %s, may be)", cwhere, path, m.MountPath, stateDir)
			}
			if m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationBidirectional {
				fail("%s: hostPath %s has Bidirectional mount propagation", cwhere, path)
			}
		}
	}
	return errs
}

// runsAsRoot reports whether a container may run as UID 0, given its and its pod's contexts.
func runsAsRoot(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) bool {
	var nonRoot *bool
	var user *int64
	if pod != nil {
		nonRoot, user = pod.RunAsNonRoot, pod.RunAsUser
	}
	if c.RunAsNonRoot != nil {
		nonRoot = c.RunAsNonRoot
	}
	if c.RunAsUser != nil {
		user = c.RunAsUser
	}
	if user != nil && *user == 0 {
		return true
	}
	return nonRoot == nil || !*nonRoot || user == nil
}

// readVerbs are the only verbs the chart grants: the agent reads the API, never writes it.
var readVerbs = []string{"get", "list", "watch"}

func checkRules(where string, rules []rbacv1.PolicyRule) []error {
	var errs []error
	for i, r := range rules {
		fields := map[string][]string{"apiGroups": r.APIGroups, "resources": r.Resources, "verbs": r.Verbs, "resourceNames": r.ResourceNames, "nonResourceURLs": r.NonResourceURLs}
		for name, values := range fields {
			for _, v := range values {
				if strings.Contains(v, "*") {
					errs = append(errs, fmt.Errorf("%s: rules[%d].%s has a wildcard %q", where, i, name, v))
				}
			}
		}
		for _, v := range r.Verbs {
			if !slices.Contains(readVerbs, v) {
				errs = append(errs, fmt.Errorf("%s: rules[%d] grants %q (only %s)", where, i, v, strings.Join(readVerbs, ", ")))
			}
		}
		if len(r.NonResourceURLs) > 0 {
			errs = append(errs, fmt.Errorf("%s: rules[%d] grants non-resource URLs", where, i))
		}
	}
	return errs
}

// checkWiring checks that the objects refer to each other correctly: Services, PDBs and HPAs
// select or target a workload of the rendering, pods mount ConfigMaps and run as ServiceAccounts
// of the rendering, bindings name its roles, probes name declared ports, and every
// --config=file: argument names a key of a mounted ConfigMap.
func checkWiring(o *objects) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	type pod struct {
		name   string
		labels labels.Set
		spec   *corev1.PodSpec
	}
	var pods []pod
	for _, d := range o.DaemonSets {
		pods = append(pods, pod{"DaemonSet/" + d.Name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
		if sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels); !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			fail("DaemonSet/%s: its selector does not match its pod template", d.Name)
		}
	}
	deployments := map[string]bool{}
	for _, d := range o.Deployments {
		deployments[d.Name] = true
		pods = append(pods, pod{"Deployment/" + d.Name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
		if sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels); !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			fail("Deployment/%s: its selector does not match its pod template", d.Name)
		}
	}
	selects := func(set map[string]string) []pod {
		var out []pod
		for _, p := range pods {
			if labels.SelectorFromSet(set).Matches(p.labels) {
				out = append(out, p)
			}
		}
		return out
	}
	for _, s := range o.Services {
		matched := selects(s.Spec.Selector)
		if len(matched) != 1 {
			fail("Service/%s selects %d workloads, want 1", s.Name, len(matched))
			continue
		}
		for _, port := range s.Spec.Ports {
			if !declaresPort(matched[0].spec, port.TargetPort.String()) {
				fail("Service/%s: targetPort %s is not a port of %s", s.Name, port.TargetPort.String(), matched[0].name)
			}
		}
	}
	for _, p := range o.PDBs {
		if len(selects(p.Spec.Selector.MatchLabels)) != 1 {
			fail("PodDisruptionBudget/%s does not select exactly one workload", p.Name)
		}
	}
	for _, h := range o.HPAs {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || !deployments[h.Spec.ScaleTargetRef.Name] {
			fail("HorizontalPodAutoscaler/%s targets %s/%s, not a Deployment of the chart", h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		}
	}
	configMaps := map[string]*corev1.ConfigMap{}
	for _, c := range o.ConfigMaps {
		configMaps[c.Name] = c
	}
	serviceAccounts := map[string]bool{}
	for _, s := range o.ServiceAccounts {
		serviceAccounts[s.Name] = true
	}
	roles := map[string]bool{}
	for _, r := range o.ClusterRoles {
		roles[r.Name] = true
	}
	for _, b := range o.ClusterRoleBindings {
		if !roles[b.RoleRef.Name] {
			fail("ClusterRoleBinding/%s: ClusterRole %s is not rendered", b.Name, b.RoleRef.Name)
		}
		for _, s := range b.Subjects {
			if s.Kind != "ServiceAccount" || !serviceAccounts[s.Name] || s.Namespace != Namespace {
				fail("ClusterRoleBinding/%s: subject %s %s/%s is not a ServiceAccount of the chart", b.Name, s.Kind, s.Namespace, s.Name)
			}
		}
	}
	for _, p := range pods {
		if p.spec.ServiceAccountName != "" && !serviceAccounts[p.spec.ServiceAccountName] {
			fail("%s: ServiceAccount %s is not rendered", p.name, p.spec.ServiceAccountName)
		}
		mounted := map[string]string{} // mount path -> ConfigMap name (the user's own may be mounted too)
		for _, c := range p.spec.Containers {
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				if probe == nil || probe.HTTPGet == nil {
					fail("%s: container %s lacks an HTTP liveness or readiness probe", p.name, c.Name)
					continue
				}
				if !declaresPort(p.spec, probe.HTTPGet.Port.String()) {
					fail("%s: container %s probes port %s, which it does not declare", p.name, c.Name, probe.HTTPGet.Port.String())
				}
			}
			for _, m := range c.VolumeMounts {
				for _, v := range p.spec.Volumes {
					if v.Name != m.Name || v.ConfigMap == nil {
						continue
					}
					mounted[m.MountPath] = v.ConfigMap.Name
				}
			}
			for _, arg := range c.Args {
				file, ok := strings.CutPrefix(arg, "--config=file:")
				if !ok {
					continue
				}
				dir, key := file[:strings.LastIndex(file, "/")], file[strings.LastIndex(file, "/")+1:]
				name, ok := mounted[dir]
				if !ok {
					fail("%s: %s is not in a mounted ConfigMap", p.name, arg)
					continue
				}
				cm, ok := configMaps[name]
				if !ok {
					fail("%s: %s: ConfigMap %s is not rendered", p.name, arg, name)
					continue
				}
				if _, ok := cm.Data[key]; !ok {
					fail("%s: %s: ConfigMap %s has no key %s", p.name, arg, cm.Name, key)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func declaresPort(spec *corev1.PodSpec, port string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}
