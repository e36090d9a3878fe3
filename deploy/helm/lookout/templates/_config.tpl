{{/*
The agent's and the gateway's collector configs. The built-in configs (lookout:agent,
lookout:gateway, embedded in the binary) hold every component's settings; the chart only adds,
in files the collector merges over them in order (maps merge, lists are replaced):

  reset.yaml    service::pipelines: null, so that the next file's pipelines are the only ones
                (a merge can add pipelines but not remove them)
  presets.yaml  the pipelines the presets select, backend auth, and Kubernetes wiring
  config.yaml   the user's `config` value, as given
*/}}

{{/* The agent's pipelines (a dict), in the built-in config's order. */}}
{{- define "lookout.agent.pipelines" -}}
{{- $p := .Values.presets -}}
{{- /* No batch processor for traces or logs: it would acknowledge data before the on-disk queue has it. */ -}}
{{- $processors := list "memory_limiter" "k8s_attributes" "resource" -}}
{{- /* The service graph needs both spans of a call: the gateway's when there is one (lookout:to-gateway). */ -}}
{{- $agentGraph := and $p.spanMetrics.enabled (not $p.gateway.enabled) -}}
{{- $pipelines := dict -}}
{{- if $p.traces.enabled -}}
{{- $exporters := list (ternary "load_balancing" "otlp_grpc/tempo" $p.gateway.enabled) -}}
{{- if $p.spanMetrics.enabled }}{{ $exporters = append $exporters "span_metrics" }}{{ end -}}
{{- if $agentGraph }}{{ $exporters = append $exporters "service_graph" }}{{ end -}}
{{- $_ := set $pipelines "traces" (dict "receivers" (list "otlp") "processors" $processors "exporters" $exporters) -}}
{{- end -}}
{{- if $p.metrics.enabled -}}
{{- $receivers := list "otlp" "prometheus" -}}
{{- if $p.metrics.hostMetrics }}{{ $receivers = append $receivers "host_metrics" }}{{ end -}}
{{- if $p.metrics.kubeletStats }}{{ $receivers = append $receivers "kubelet_stats" }}{{ end -}}
{{- if $p.spanMetrics.enabled }}{{ $receivers = append $receivers "span_metrics" }}{{ end -}}
{{- if $agentGraph }}{{ $receivers = append $receivers "service_graph" }}{{ end -}}
{{- $_ := set $pipelines "metrics" (dict "receivers" $receivers "processors" (concat $processors (list "transform/service_label" "transform/own_scope" "batch")) "exporters" (list "prometheus_remote_write")) -}}
{{- end -}}
{{- if $p.logs.enabled -}}
{{- /* Secrets masked last, after everything that adds attributes (collector/config/agent.yaml). */ -}}
{{- $receivers := ternary (list "podlogs" "otlp") (list "otlp") $p.logs.podLogs -}}
{{- $_ := set $pipelines "logs" (dict "receivers" $receivers "processors" (append $processors "masking") "exporters" (list "loki")) -}}
{{- end -}}
{{- toYaml $pipelines -}}
{{- end -}}

{{/*
Auth and headers of one exporter (a dict, merged into the exporter's config, or into its
`client` for the loki exporter); call with (dict "auth" $auth "headers" $headers).
*/}}
{{- define "lookout.exporterAuth" -}}
{{- $out := dict -}}
{{- if .auth.id }}{{ $_ := set $out "auth" (dict "authenticator" .auth.id) }}{{ end -}}
{{- if .headers }}{{ $_ := set $out "headers" .headers }}{{ end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* presets.yaml of the agent. */}}
{{- define "lookout.agent.presets" -}}
{{- $p := .Values.presets -}}
{{- $b := .Values.backends -}}
{{- $prom := include "lookout.backendAuth" (dict "name" "prometheus" "backend" $b.prometheus) | fromYaml -}}
{{- $loki := include "lookout.backendAuth" (dict "name" "loki" "backend" $b.loki) | fromYaml -}}
{{- $tempo := include "lookout.backendAuth" (dict "name" "tempo" "backend" $b.tempo) | fromYaml -}}
{{- $toTempo := and $p.traces.enabled (not $p.gateway.enabled) -}}
{{- if not $p.metrics.enabled }}{{ $prom = dict }}{{ end -}}
{{- if not $p.logs.enabled }}{{ $loki = dict }}{{ end -}}
{{- if not $toTempo }}{{ $tempo = dict }}{{ end -}}
{{- $serviceExtensions := list "health_check" "pprof" "zpages" "segment_storage" "startup_pages" -}}
{{- $extensions := dict -}}
{{- range $a := list $prom $loki $tempo -}}
{{- if $a.id -}}
{{- $serviceExtensions = append $serviceExtensions $a.id -}}
{{- $_ := set $extensions $a.id $a.extension -}}
{{- end -}}
{{- end -}}
{{- $exporters := dict -}}
{{- $disabled := list -}}
{{- if $p.metrics.enabled -}}
{{- $e := include "lookout.exporterAuth" (dict "auth" $prom "headers" $b.prometheus.headers) | fromYaml -}}
{{- if $e }}{{ $_ := set $exporters "prometheus_remote_write" $e }}{{ end -}}
{{- else -}}
{{- $_ := set $exporters "prometheus_remote_write" (dict "endpoint" "http://metrics-disabled.invalid/api/v1/write") -}}
{{- $disabled = append $disabled "prometheus_remote_write" -}}
{{- end -}}
{{- if $p.logs.enabled -}}
{{- $e := include "lookout.exporterAuth" (dict "auth" $loki "headers" $b.loki.headers) | fromYaml -}}
{{- if $e }}{{ $_ := set $exporters "loki" (dict "client" $e) }}{{ end -}}
{{- else -}}
{{- $_ := set $exporters "loki" (dict "client" (dict "endpoint" "http://logs-disabled.invalid/loki/api/v1/push")) -}}
{{- $disabled = append $disabled "loki" -}}
{{- end -}}
{{- if $toTempo -}}
{{- $e := include "lookout.exporterAuth" (dict "auth" $tempo "headers" $b.tempo.headers) | fromYaml -}}
{{- if $e }}{{ $_ := set $exporters "otlp_grpc/tempo" $e }}{{ end -}}
{{- else -}}
{{- $_ := set $exporters "otlp_grpc/tempo" (dict "endpoint" "tempo-unused.invalid:4317") -}}
{{- $disabled = append $disabled "otlp_grpc/tempo" -}}
{{- end -}}
{{- $config := dict "service" (dict "extensions" $serviceExtensions "pipelines" (include "lookout.agent.pipelines" . | fromYaml)) -}}
{{- if $extensions }}{{ $_ := set $config "extensions" $extensions }}{{ end -}}
{{- if $exporters }}{{ $_ := set $config "exporters" $exporters }}{{ end -}}
{{- if and $p.metrics.enabled $p.metrics.kubeletStats -}}
{{- $_ := set $config "receivers" (dict "kubelet_stats" (dict "endpoint" $p.metrics.kubeletEndpoint)) -}}
{{- end -}}
# Written by the Lookout chart from its values; merged over lookout:agent{{ if $p.gateway.enabled }} and lookout:to-gateway{{ end }}.
# The pipelines the presets select (the only ones: reset.yaml dropped the built-in ones), the
# backends' auth and headers, and the kubelet's endpoint.
{{- with $disabled }}
# {{ join ", " . }}: in no pipeline, so never started; the placeholder endpoints
# (.invalid never resolves) only satisfy validation of the built-in config.
{{- end }}
{{ toYaml $config }}
{{- end -}}

{{/* Whether the gateway draws the service graph (lookout:gateway-service-graph). */}}
{{- define "lookout.gateway.serviceGraph" -}}
{{- if .Values.presets.spanMetrics.enabled }}true{{ end -}}
{{- end -}}

{{/* presets.yaml of the gateway: Tempo's (and, with the service graph, Prometheus') auth and headers. */}}
{{- define "lookout.gateway.presets" -}}
{{- $b := .Values.backends -}}
{{- $backends := dict "tempo" "otlp_grpc/tempo" -}}
{{- if include "lookout.gateway.serviceGraph" . }}{{ $_ := set $backends "prometheus" "prometheus_remote_write" }}{{ end -}}
{{- $serviceExtensions := list "health_check" "pprof" "zpages" "segment_storage" "startup_pages" -}}
{{- $extensions := dict -}}
{{- $exporters := dict -}}
{{- range $name, $exporter := $backends -}}
{{- $backend := get $b $name -}}
{{- $a := include "lookout.backendAuth" (dict "name" $name "backend" $backend) | fromYaml -}}
{{- if $a.id -}}
{{- $serviceExtensions = append $serviceExtensions $a.id -}}
{{- $_ := set $extensions $a.id $a.extension -}}
{{- end -}}
{{- $e := include "lookout.exporterAuth" (dict "auth" $a "headers" $backend.headers) | fromYaml -}}
{{- if $e }}{{ $_ := set $exporters $exporter $e }}{{ end -}}
{{- end -}}
{{- $config := dict -}}
{{- if $extensions -}}
{{- $_ := set $config "extensions" $extensions -}}
{{- $_ := set $config "service" (dict "extensions" $serviceExtensions) -}}
{{- end -}}
{{- if $exporters }}{{ $_ := set $config "exporters" $exporters }}{{ end -}}
# Written by the Lookout chart from its values (the backends' auth and headers); merged over lookout:gateway{{ if include "lookout.gateway.serviceGraph" . }} and lookout:gateway-service-graph{{ end }}.
{{ if $config }}{{ toYaml $config }}{{ else }}{}{{ end }}
{{- end -}}

{{/* The user's extra config: a YAML document the collector merges last ({} when empty). */}}
{{- define "lookout.userConfig" -}}
# The chart's `{{ .key }}` value; merged over everything else.
{{ if .value }}{{ toYaml .value }}{{ else }}{}{{ end }}
{{- end -}}
