// Package alerts builds Prometheus rules and the Alertmanager config from the service catalog:
//
//   - per service, SLI recording rules and multi-window multi-burn-rate SLO alerts
//     (ServiceErrorBudgetBurn, ServiceLatencyBudgetBurn);
//   - the agents' own alerts (Lookout*) and host alerts (Node*);
//   - a promtool test per alert that watches it wait for `for` and then fire with its exact labels
//     and annotations, and one whose input keeps it silent; for multi-window alerts, also a new
//     burn that only the fastest window pair catches and a recovery that resolves the alert (the
//     expectations come from a small model of what Prometheus computes on that input);
//   - the same groups as a PrometheusRule manifest;
//   - the Alertmanager config: a route per team (critical to PagerDuty, warning to Slack),
//     inhibitions, and notification templates;
//   - docs/runbooks/<alert>.md for every alert.
//
// Generated files live in alerts/generated/ and docs/runbooks/; `lookout catalog generate`
// refreshes them and a test fails when they are stale.
package alerts
