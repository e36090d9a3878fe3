{{/* Names, labels, images, and the checks that fail fast on bad values. */}}

{{- define "lookout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name; objects append "-agent", "-gateway"... so it stays under 50. */}}
{{- define "lookout.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lookout.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; call with (dict "ctx" $ "component" "agent"). */}}
{{- define "lookout.labels" -}}
helm.sh/chart: {{ include "lookout.chart" .ctx }}
{{ include "lookout.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: lookout
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "lookout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lookout.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lookout.agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-agent" (include "lookout.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag or repository@digest; call with (dict "image" .Values.image "default" .Chart.AppVersion). */}}
{{- define "lookout.imageRef" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (toString (default .default .image.tag)) -}}
{{- end -}}
{{- end -}}

{{/* The headless Service the agents' load_balancing exporter resolves. */}}
{{- define "lookout.gateway.headlessHost" -}}
{{- printf "%s-gateway-headless.%s.svc.%s" (include "lookout.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/*
GOMEMLIMIT: 80% of a memory limit such as 1Gi, 512Mi, 2G or 1073741824, in MiB, so that the Go
runtime collects garbage before the kernel kills the container. Call with the limit.
*/}}
{{- define "lookout.gomemlimit" -}}
{{- $limit := toString . -}}
{{- $units := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|K|M|G|T)?$" $limit) -}}
{{- fail (printf "resources.limits.memory: %q is not a whole number of bytes with an optional unit (Ki, Mi, Gi, Ti, k, M, G, T)" $limit) -}}
{{- end -}}
{{- $number := regexFind "^[0-9]+" $limit | int64 -}}
{{- $unit := trimPrefix (toString $number) $limit -}}
{{- $bytes := mul $number (get $units $unit) -}}
{{- printf "%dMiB" (div (mul $bytes 8) 10485760) -}}
{{- end -}}

{{/* Checks values that the schema cannot: combinations of presets, exclusive options. */}}
{{- define "lookout.validate" -}}
{{- $p := .Values.presets -}}
{{- if not (or $p.logs.enabled $p.metrics.enabled $p.traces.enabled) -}}
{{- fail "presets: logs, metrics and traces are all off: the agent would collect nothing; enable at least one" -}}
{{- end -}}
{{- if and $p.spanMetrics.enabled (not (and $p.traces.enabled $p.metrics.enabled)) -}}
{{- fail "presets.spanMetrics.enabled needs presets.traces.enabled and presets.metrics.enabled (span metrics are computed from traces and written as metrics); set presets.spanMetrics.enabled=false" -}}
{{- end -}}
{{- if and $p.gateway.enabled (not $p.traces.enabled) -}}
{{- fail "presets.gateway.enabled needs presets.traces.enabled (the gateway receives the agents' traces)" -}}
{{- end -}}
{{- if and $p.logs.dockerContainers (not ($p.logs.enabled)) -}}
{{- fail "presets.logs.dockerContainers needs presets.logs.enabled and presets.logs.podLogs" -}}
{{- end -}}
{{- if and $p.logs.dockerContainers (not ($p.logs.podLogs)) -}}
{{- fail "presets.logs.dockerContainers needs presets.logs.enabled and presets.logs.podLogs" -}}
{{- end -}}
{{- range $name := list "prometheus" "loki" "tempo" -}}
{{- $b := get $.Values.backends $name -}}
{{- if and $b.basicAuth.existingSecret $b.bearerToken.existingSecret -}}
{{- fail (printf "backends.%s: basicAuth.existingSecret and bearerToken.existingSecret are exclusive; set one" $name) -}}
{{- end -}}
{{- end -}}
{{- $tempo := .Values.backends.tempo -}}
{{- if and $tempo.insecure (or $tempo.basicAuth.existingSecret $tempo.bearerToken.existingSecret) -}}
{{- fail "backends.tempo: basicAuth and bearerToken need TLS (set backends.tempo.insecure=false): gRPC sends credentials only over TLS" -}}
{{- end -}}
{{- if and $p.metrics.enabled (not .Values.backends.prometheus.url) -}}
{{- fail "backends.prometheus.url is required when presets.metrics.enabled (the remote-write URL, e.g. http://prometheus:9090/api/v1/write)" -}}
{{- end -}}
{{- if and $p.logs.enabled (not .Values.backends.loki.url) -}}
{{- fail "backends.loki.url is required when presets.logs.enabled (the full push URL, e.g. http://loki:3100/loki/api/v1/push)" -}}
{{- end -}}
{{- if and $p.traces.enabled (not .Values.backends.tempo.endpoint) -}}
{{- fail "backends.tempo.endpoint is required when presets.traces.enabled (host:port of Tempo's OTLP/gRPC receiver, e.g. tempo:4317)" -}}
{{- end -}}
{{- if not .Values.agent.resources.limits.memory -}}
{{- fail "agent.resources.limits.memory is required: memory_limiter and GOMEMLIMIT are sized from it" -}}
{{- end -}}
{{- if and $p.gateway.enabled (not .Values.gateway.resources.limits.memory) -}}
{{- fail "gateway.resources.limits.memory is required: memory_limiter and GOMEMLIMIT are sized from it" -}}
{{- end -}}
{{- range $i, $rule := .Values.rbac.extraRules -}}
{{- range $field := list "apiGroups" "resources" "verbs" "resourceNames" "nonResourceURLs" -}}
{{- if has "*" (default list (get $rule $field)) -}}
{{- fail (printf "rbac.extraRules[%d].%s: wildcards (\"*\") are not allowed; list what the component needs" $i $field) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Auth for one backend: the authenticator extension (named after the backend) and the volume with
its Secret. Call with (dict "name" "prometheus" "backend" .Values.backends.prometheus).
Returns YAML {extension: {<id>: config}, id: <id>} or {} when the backend has no auth.
*/}}
{{- define "lookout.backendAuth" -}}
{{- $dir := printf "/etc/lookout/secrets/%s" .name -}}
{{- if .backend.basicAuth.existingSecret -}}
id: basicauth/{{ .name }}
extension:
  client_auth:
    username_file: {{ $dir }}/username
    password_file: {{ $dir }}/password
{{- else if .backend.bearerToken.existingSecret -}}
id: bearertokenauth/{{ .name }}
extension:
  filename: {{ $dir }}/token
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/* The Secret volumes of the backends with auth, and their mounts; call with (dict "ctx" $ "names" (list ...)). */}}
{{- define "lookout.authVolumes" -}}
{{- range $name := .names -}}
{{- $b := get $.ctx.Values.backends $name }}
{{- if $b.basicAuth.existingSecret }}
- name: auth-{{ $name }}
  secret:
    secretName: {{ $b.basicAuth.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $b.basicAuth.usernameKey }}
        path: username
      - key: {{ $b.basicAuth.passwordKey }}
        path: password
{{- else if $b.bearerToken.existingSecret }}
- name: auth-{{ $name }}
  secret:
    secretName: {{ $b.bearerToken.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $b.bearerToken.key }}
        path: token
{{- end }}
{{- end }}
{{- end -}}

{{- define "lookout.authVolumeMounts" -}}
{{- range $name := .names -}}
{{- $b := get $.ctx.Values.backends $name }}
{{- if or $b.basicAuth.existingSecret $b.bearerToken.existingSecret }}
- name: auth-{{ $name }}
  mountPath: /etc/lookout/secrets/{{ $name }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}
