// Package sli builds the PromQL of service level indicators from span metrics, the same way for
// dashboards and for rules: request rate, error ratio, share of slow requests, latency quantiles.
// Metric and label names come from the agent's emitted-metric list, never from literals.
package sli

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

// Recording rule names (level:metric:operation, as in kubernetes-mixin).
const (
	// RecordErrorRatio is the share of failed server requests over a window.
	RecordErrorRatio = "service:request_errors:ratio_rate"
	// RecordSlowRatio is the share of server requests slower than the latency SLO's threshold.
	RecordSlowRatio = "service:request_slow:ratio_rate"
)

// Builder builds queries for one catalog.
type Builder struct {
	c  *catalog.Catalog
	sm emitted.SpanMetrics
}

// New returns a builder; it fails when the agent emits no span metrics.
func New(c *catalog.Catalog) (*Builder, error) {
	if c.Metrics == nil || c.Metrics.SpanMetrics == nil {
		return nil, errors.New("the agent's pipeline emits no span metrics, which the SLIs are computed from")
	}
	return &Builder{c: c, sm: *c.Metrics.SpanMetrics}, nil
}

// SpanMetrics returns what the span metrics are called.
func (b *Builder) SpanMetrics() emitted.SpanMetrics { return b.sm }

// ServiceLabel is the label carrying the service name.
func (b *Builder) ServiceLabel() string { return b.c.Settings.Labels.Service }

// Matcher renders label="value" with the value quoted for PromQL.
func Matcher(label, value string) string { return label + "=" + strconv.Quote(value) }

// server is the selector of a service's server spans; service may be a Grafana variable.
func (b *Builder) server(service string, extra ...string) string {
	ms := append([]string{Matcher(b.ServiceLabel(), service), Matcher(b.sm.Labels.SpanKind, b.sm.Values.SpanKindServer)}, extra...)
	return "{" + strings.Join(ms, ", ") + "}"
}

func (b *Builder) errorMatcher() string {
	return Matcher(b.sm.Labels.StatusCode, b.sm.Values.StatusCodeError)
}

// by renders a `by (...)` clause.
func by(labels ...string) string { return "by (" + strings.Join(labels, ", ") + ")" }

// RequestRate is the per-second rate of a service's server requests.
func (b *Builder) RequestRate(service, window string) string {
	return fmt.Sprintf("sum %s (rate(%s%s[%s]))", by(b.ServiceLabel()), b.sm.Calls, b.server(service), window)
}

// ErrorRate is the per-second rate of a service's failed server requests (0 when none failed).
func (b *Builder) ErrorRate(service, window string) string {
	return fmt.Sprintf("(sum %s (rate(%s%s[%s])) or %s * 0)", by(b.ServiceLabel()), b.sm.Calls,
		b.server(service, b.errorMatcher()), window, b.RequestRate(service, window))
}

// ErrorRatio is the share of a service's server requests that failed.
func (b *Builder) ErrorRatio(service, window string) string {
	return fmt.Sprintf("%s\n/\n%s", b.ErrorRate(service, window), b.RequestRate(service, window))
}

// SlowRatio is the share of a service's server requests slower than the bucket bound le.
func (b *Builder) SlowRatio(service, le, window string) string {
	return fmt.Sprintf("1 - (\n  sum %s (rate(%s_bucket%s[%s]))\n  /\n  sum %s (rate(%s_count%s[%s]))\n)",
		by(b.ServiceLabel()), b.sm.Duration, b.server(service, Matcher("le", le)), window,
		by(b.ServiceLabel()), b.sm.Duration, b.server(service), window)
}

// Quantile is a latency quantile of a service's server requests, in DurationUnit.
func (b *Builder) Quantile(phi float64, service, window string, groupBy ...string) string {
	g := append([]string{"le"}, groupBy...)
	return fmt.Sprintf("histogram_quantile(%s, sum %s (rate(%s_bucket%s[%s])))",
		strconv.FormatFloat(phi, 'f', -1, 64), by(g...), b.sm.Duration, b.server(service), window)
}

// SecondsScale is the factor that turns a duration in the span metrics' unit into seconds.
func (b *Builder) SecondsScale() string {
	if b.sm.DurationUnit == "ms" {
		return " / 1000"
	}
	return ""
}

// BudgetRemaining is the share of the error budget left over the SLO window: 1 when nothing
// failed, 0 when the budget is spent, negative when overspent.
func (b *Builder) BudgetRemaining(service string, badRatio string, objectivePercent float64) string {
	return fmt.Sprintf("1 - (\n%s\n) / %s", badRatio, FormatFloat(catalog.ErrorBudget(objectivePercent)))
}

// Record is the name of a recording rule for one window, e.g. service:request_errors:ratio_rate5m.
func Record(base string, window model.Duration) string { return base + window.String() }

// Windows returns every window the burn-rate alerts use, sorted by length.
func Windows(c *catalog.Catalog) []model.Duration {
	seen := map[model.Duration]bool{}
	var out []model.Duration
	for _, a := range c.Settings.SLO.Alerts {
		for _, w := range a.Windows {
			for _, d := range []model.Duration{w.Short, w.Long} {
				if !seen[d] {
					seen[d] = true
					out = append(out, d)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// FormatFloat prints a number the shortest way that reads back exactly.
func FormatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// RateBy is the per-second rate of a service's server requests (only failed ones when errors is
// set, 0 for a group whose requests have not failed yet), summed by the given labels.
func (b *Builder) RateBy(service, window string, errors bool, groupBy ...string) string {
	all := fmt.Sprintf("sum %s (rate(%s%s[%s]))", by(groupBy...), b.sm.Calls, b.server(service), window)
	if !errors {
		return all
	}
	return fmt.Sprintf("sum %s (rate(%s%s[%s]))\nor\n%s * 0", by(groupBy...), b.sm.Calls, b.server(service, b.errorMatcher()), window, all)
}
