package sink

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// LocalizeOptions say where a local run's notifications and secrets go.
type LocalizeOptions struct {
	// SinkURL is the sink's base URL, e.g. "http://127.0.0.1:9097".
	SinkURL string
	// SecretsDir receives the secret files the config reads (webhook URLs, routing keys).
	SecretsDir string
	// ConfigDir is the directory of the original config: relative template paths are resolved
	// against it.
	ConfigDir string
}

// Localized is an Alertmanager config rewritten for a local run.
type Localized struct {
	Config []byte
	// Secrets maps each secret file the config now reads to the content it must have.
	Secrets map[string]string
}

// secretFileKeys are the Alertmanager keys that name a file holding a notification secret, and
// what a local run puts in the file.
var secretFileKeys = map[string]func(o LocalizeOptions, name string) string{
	"slack_api_url_file": func(o LocalizeOptions, name string) string { return o.SinkURL + "/slack/" + name },
	"api_url_file":       func(o LocalizeOptions, name string) string { return o.SinkURL + "/slack/" + name },
	"url_file":           func(o LocalizeOptions, name string) string { return o.SinkURL + "/webhook/" + name },
	"routing_key_file":   func(_ LocalizeOptions, name string) string { return "local-" + name },
	"service_key_file":   func(_ LocalizeOptions, name string) string { return "local-" + name },
}

// LocalizeAlertmanagerConfig rewrites a production Alertmanager config (as the catalog generator
// writes it) so that a local run delivers every notification to the sink, and nothing leaves the
// machine: Slack and webhook URLs and the PagerDuty URL point at the sink, secret files move to
// SecretsDir (with contents pointing at the sink), relative template paths become absolute.
// Routes, receivers, grouping and inhibition stay exactly as generated.
func LocalizeAlertmanagerConfig(in []byte, o LocalizeOptions) (Localized, error) {
	var errs []error
	if !strings.HasPrefix(o.SinkURL, "http://") {
		errs = append(errs, fmt.Errorf("sink url %q: want http://host:port", o.SinkURL))
	}
	if o.SecretsDir == "" {
		errs = append(errs, errors.New("secrets dir: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return Localized{}, fmt.Errorf("localize alertmanager config: %w", err)
	}
	o.SinkURL = strings.TrimSuffix(o.SinkURL, "/")
	var doc yaml.Node
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return Localized{}, fmt.Errorf("localize alertmanager config: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return Localized{}, errors.New("localize alertmanager config: not a YAML mapping")
	}
	root := doc.Content[0]
	out := Localized{Secrets: map[string]string{}}

	global := mapValue(root, "global")
	if global == nil {
		global = &yaml.Node{Kind: yaml.MappingNode}
		root.Content = append([]*yaml.Node{scalar("global"), global}, root.Content...)
	}
	setScalar(global, "pagerduty_url", o.SinkURL+"/pagerduty/v2/enqueue")
	if v := mapValue(global, "slack_api_url"); v != nil {
		v.Value = o.SinkURL + "/slack/global"
	}

	if t := mapValue(root, "templates"); t != nil && t.Kind == yaml.SequenceNode {
		for _, n := range t.Content {
			if n.Kind == yaml.ScalarNode && !filepath.IsAbs(n.Value) {
				n.Value = filepath.Join(o.ConfigDir, n.Value)
			}
		}
	}

	if rs := mapValue(root, "receivers"); rs != nil && rs.Kind == yaml.SequenceNode {
		for _, r := range rs.Content {
			name := ""
			if v := mapValue(r, "name"); v != nil {
				name = v.Value
			}
			for _, c := range items(mapValue(r, "slack_configs")) {
				if v := mapValue(c, "api_url"); v != nil {
					v.Value = o.SinkURL + "/slack/" + name
				}
			}
			for _, c := range items(mapValue(r, "pagerduty_configs")) {
				if v := mapValue(c, "url"); v != nil {
					v.Value = o.SinkURL + "/pagerduty/v2/enqueue"
				}
			}
			for _, c := range items(mapValue(r, "webhook_configs")) {
				if v := mapValue(c, "url"); v != nil {
					v.Value = o.SinkURL + "/webhook/" + name
				}
			}
		}
	}

	// Secret files anywhere in the document.
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if content, ok := secretFileKeys[k.Value]; ok && v.Kind == yaml.ScalarNode && v.Value != "" {
					base := filepath.Base(v.Value)
					name := strings.TrimSuffix(base, filepath.Ext(base))
					path := filepath.Join(o.SecretsDir, base)
					if prev, dup := out.Secrets[path]; dup && prev != content(o, name) {
						errs = append(errs, fmt.Errorf("%s: two secret files named %s", k.Value, base))
					}
					out.Secrets[path] = content(o, name)
					v.Value = path
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	if err := errors.Join(errs...); err != nil {
		return Localized{}, fmt.Errorf("localize alertmanager config: %w", err)
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return Localized{}, fmt.Errorf("localize alertmanager config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return Localized{}, fmt.Errorf("localize alertmanager config: %w", err)
	}
	out.Config = append([]byte("# Rewritten for a local run by webhook-sink localize-alertmanager: every notification goes to the sink.\n"), buf.Bytes()...)
	return out, nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setScalar(m *yaml.Node, key, value string) {
	if v := mapValue(m, key); v != nil {
		v.Kind, v.Tag, v.Value, v.Content = yaml.ScalarNode, "!!str", value, nil
		return
	}
	m.Content = append(m.Content, scalar(key), scalar(value))
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}
