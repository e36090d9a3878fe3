// Package querycheck parses the PromQL of generated dashboards and rules with Prometheus' own
// parser, and checks that every metric it selects is one the agent emits (or a recording rule
// generated beside it).
package querycheck

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// GrafanaVars are values for Grafana's built-in variables, chosen so that an expanded query is
// valid PromQL and means what Grafana would run.
var GrafanaVars = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1h",
	"__range_s":       "3600",
	"__interval_ms":   "60000",
}

var grafanaVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]`)

// Expand replaces Grafana template variables ($name, ${name}, ${name:fmt}, [[name]]) with vars,
// falling back to GrafanaVars; it fails on a variable it has no value for.
func Expand(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sm := grafanaVar.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := GrafanaVars[name]; ok {
			return v
		}
		missing = append(missing, name)
		return m
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for variable(s) %s in %q", strings.Join(missing, ", "), expr)
	}
	return out, nil
}

// Parse parses a PromQL expression with the Prometheus parser.
func Parse(expr string) (parser.Expr, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	return e, nil
}

// MetricNames parses expr and returns the metric names its selectors use, sorted; a selector
// without a fixed name is an error, since it cannot be checked.
func MetricNames(expr string) ([]string, error) {
	e, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var errs []error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			errs = append(errs, fmt.Errorf("selector %s in %q has no fixed metric name", vs.String(), expr))
			return nil
		}
		seen[name] = true
		return nil
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, errors.Join(errs...)
}

// Check parses expr and calls known for each metric name it uses.
func Check(expr string, known func(name string) error) error {
	names, err := MetricNames(expr)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if err := known(n); err != nil {
			errs = append(errs, fmt.Errorf("in %q: %w", expr, err))
		}
	}
	return errors.Join(errs...)
}
