{{/* Shared helpers of the parley chart. A "svc" argument is one of gateway, inference, auth, history. */}}

{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one service's resources: (dict "root" $ "svc" "gateway") */}}
{{- define "parley.svcname" -}}
{{- printf "%s-%s" (include "parley.fullname" .root) .svc | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one service: (dict "root" $ "svc" "gateway") */}}
{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .svc }}
{{- end -}}

{{/* All labels of one service's resources. */}}
{{- define "parley.labels" -}}
helm.sh/chart: {{ include "parley.chartLabel" .root }}
{{ include "parley.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: parley
{{- end -}}

{{/* The image of one service: (dict "root" $ "svc" "gateway") */}}
{{- define "parley.image" -}}
{{- $v := index .root.Values .svc -}}
{{- $repo := $v.image.repository -}}
{{- if .root.Values.global.imageRegistry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .root.Values.global.imageRegistry) $repo -}}
{{- end -}}
{{- $tag := $v.image.tag | default .root.Values.global.imageTag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{- define "parley.pullPolicy" -}}
{{- $v := index .root.Values .svc -}}
{{- $v.image.pullPolicy | default .root.Values.global.imagePullPolicy -}}
{{- end -}}

{{- define "parley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "parley.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key holding one service's AMQP_URL, its own RabbitMQ user: (dict "root" $ "svc" "gateway") */}}
{{- define "parley.brokerSecretName" -}}
{{- $b := index .root.Values.broker .svc -}}
{{- $b.existingSecret | default (printf "%s-broker" (include "parley.svcname" .)) -}}
{{- end -}}
{{- define "parley.brokerSecretKey" -}}
{{- $b := index .root.Values.broker .svc -}}
{{- if $b.existingSecret -}}{{ $b.existingSecretKey }}{{- else -}}AMQP_URL{{- end -}}
{{- end -}}

{{/* The Secret and key holding a service's database URL: (dict "root" $ "svc" "auth") */}}
{{- define "parley.dbSecretName" -}}
{{- $v := index .root.Values .svc -}}
{{- $v.database.existingSecret | default (printf "%s-db" (include "parley.svcname" .)) -}}
{{- end -}}
{{- define "parley.dbSecretKey" -}}
{{- $v := index .root.Values .svc -}}
{{- if $v.database.existingSecret -}}{{ $v.database.existingSecretKey }}{{- else -}}DATABASE_URL{{- end -}}
{{- end -}}

{{/* One service's AMQP_URL environment variable: (dict "root" $ "svc" "gateway") */}}
{{- define "parley.brokerEnv" -}}
- name: AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "parley.brokerSecretName" . }}
      key: {{ include "parley.brokerSecretKey" . }}
- name: PARLEY_BROKER_USERS
  value: {{ include "parley.brokerUsers" .root | quote }}
{{- end -}}

{{/* Every service's broker user, from the permission table: an event from any other sender
of its type is dropped. */}}
{{- define "parley.brokerUsers" -}}
{{- $table := (.Files.Get "files/broker-permissions.json" | fromJson).users -}}
{{- $out := list -}}
{{- range $svc := list "auth" "gateway" "history" "inference" -}}
{{- $out = append $out (printf "%s=%s" $svc (index $table $svc).user) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* The services this release deploys, in the order of the broker's permission table. */}}
{{- define "parley.enabledServices" -}}
{{- $out := list -}}
{{- range $svc := list "auth" "gateway" "history" "inference" -}}
{{- if (index $.Values $svc).enabled }}{{ $out = append $out $svc }}{{ end -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* The proxies whose X-Forwarded-For is believed (values: trustedProxies), comma-separated. */}}
{{- define "parley.trustedProxies" -}}
{{- range .Values.trustedProxies -}}
{{- if contains "*" . -}}
{{- fail "trustedProxies: list the ingress controller's addresses or CIDRs, never '*' (a client would choose the address it is throttled by)" -}}
{{- end -}}
{{- end -}}
{{- join "," .Values.trustedProxies -}}
{{- end -}}

{{/* The Secret and key holding PARLEY_CATALOG_SECRET (auth and the workers). */}}
{{- define "parley.catalogSecretName" -}}
{{- .Values.catalog.existingSecret | default (printf "%s-catalog" (include "parley.fullname" .)) -}}
{{- end -}}

{{/* Without a catalogue secret, admins can add only keyless providers (auth says so). */}}
{{- define "parley.catalogEnv" -}}
{{- if or .Values.catalog.secret .Values.catalog.existingSecret }}
- name: PARLEY_CATALOG_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "parley.catalogSecretName" . }}
      key: {{ .Values.catalog.existingSecretKey }}
{{- end }}
{{- end -}}

{{/* PARLEY_HISTORY_AUDIT_KEY from its Secret; without one, history refuses to start (no default). */}}
{{- define "parley.history.auditKeyEnv" -}}
{{- $k := .Values.history.auditKey -}}
{{- if or $k.value $k.existingSecret }}
- name: PARLEY_HISTORY_AUDIT_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $k.existingSecret | default (printf "%s-audit" (include "parley.svcname" (dict "root" . "svc" "history"))) }}
      key: {{ $k.existingSecretKey }}
{{- end }}
{{- end -}}

{{/* Traces and log format of every service (values: telemetry). */}}
{{- define "parley.telemetryEnv" -}}
{{- $t := .Values.telemetry -}}
- name: OTEL_TRACES_EXPORTER
  value: {{ $t.tracesExporter | quote }}
{{- if $t.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $t.otlpEndpoint | quote }}
{{- end }}
- name: PARLEY_LOG_FORMAT
  value: {{ $t.logFormat | quote }}
{{- end -}}

{{/* A service's extra env map as a list: (index .Values svc).env */}}
{{- define "parley.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The JWKS URL of this release's auth service, or the given override. */}}
{{- define "parley.jwksUrl" -}}
{{- if .override -}}
{{- .override -}}
{{- else if .root.Values.auth.enabled -}}
{{- printf "http://%s:%v/api/auth/jwks.json" (include "parley.svcname" (dict "root" .root "svc" "auth")) .root.Values.auth.service.port -}}
{{- else -}}
{{- fail "auth.enabled is false: set gateway.jwksUrl and history.jwksUrl to the JWKS of your auth service" -}}
{{- end -}}
{{- end -}}

{{/* The workers' pod termination grace: the drain (shutdownGraceSeconds) plus a margin to exit. */}}
{{- define "parley.inference.terminationGrace" -}}
{{- add (int .Values.inference.shutdownGraceSeconds) 15 -}}
{{- end -}}

{{/* KEDA: the models whose queues it watches, as a YAML list of {name, perWorker}: keda.models
when set, else the chart's models file. perWorker is the waiting prompts per worker (default: the
model's concurrency, else the workers' default concurrency). */}}
{{- define "parley.inference.kedaModels" -}}
{{- $v := .Values.inference -}}
{{- $k := $v.autoscaling.keda -}}
{{- $models := list -}}
{{- if $k.models -}}
{{- range $name := $k.models }}{{ $models = append $models (dict "name" $name) }}{{ end -}}
{{- else if not $v.existingModelsConfigMap -}}
{{- $models = $v.models.models -}}
{{- end -}}
{{- if not $models -}}
{{- fail "inference.autoscaling.keda.models: name the models whose queues KEDA watches (the models file is in an existing ConfigMap)" -}}
{{- end -}}
{{- $out := list -}}
{{- range $m := $models -}}
{{- $per := $m.concurrency | default $v.concurrency -}}
{{- if gt (int $k.messagesPerWorker) 0 }}{{ $per = $k.messagesPerWorker }}{{ end -}}
{{- $out = append $out (dict "name" $m.name "perWorker" (int $per)) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Pod-level bits every pod shares. */}}
{{- define "parley.podCommon" -}}
serviceAccountName: {{ include "parley.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Scheduling of one service: the service's values block. */}}
{{- define "parley.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* HTTP probes: (dict "v" <service values> "port" <port name>) */}}
{{- define "parley.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  {{- toYaml .v.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: {{ .readyPath | default "/readyz" }}
    port: {{ .port }}
  {{- toYaml .v.probes.readiness | nindent 2 }}
{{- end -}}

{{/* A PodDisruptionBudget body: (dict "root" $ "svc" "gateway") */}}
{{- define "parley.pdb" -}}
{{- $v := index .root.Values .svc -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "parley.svcname" . }}
  labels:
    {{- include "parley.labels" . | nindent 4 }}
spec:
  {{- if hasKey $v.pdb "maxUnavailable" }}
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ $v.pdb.minAvailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "parley.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* A ServiceMonitor body: (dict "root" $ "svc" "gateway") */}}
{{- define "parley.serviceMonitor" -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "parley.svcname" . }}
  labels:
    {{- include "parley.labels" . | nindent 4 }}
    {{- with .root.Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "parley.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: {{ .port | default "http" }}
      path: /metrics
      interval: {{ .root.Values.serviceMonitor.interval }}
{{- end -}}

{{/* NetworkPolicy peers: the ingress controller. */}}
{{- define "parley.np.ingressController" -}}
- {{- toYaml .Values.networkPolicy.ingressController | nindent 2 }}
{{- end -}}
{{- define "parley.np.monitoring" -}}
- {{- toYaml .Values.networkPolicy.monitoring | nindent 2 }}
{{- end -}}
{{/* Pods of this release of one component: (dict "root" $ "svc" "gateway") */}}
{{- define "parley.np.pods" -}}
- podSelector:
    matchLabels:
      {{- include "parley.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* Egress every pod needs: DNS and the broker. */}}
{{- define "parley.np.baseEgress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
  {{- with .Values.networkPolicy.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
- ports:
    - {port: {{ .Values.networkPolicy.broker.port }}, protocol: TCP}
  {{- with .Values.networkPolicy.broker.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "parley.np.databaseEgress" -}}
- ports:
    - {port: {{ .Values.networkPolicy.database.port }}, protocol: TCP}
  {{- with .Values.networkPolicy.database.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* The /tmp emptyDir a read-only root filesystem needs. */}}
{{- define "parley.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}
{{- define "parley.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
