{{/* Chart name, overridable. */}}
{{- define "tally.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources. Truncated to 63 characters because some name fields
are DNS labels; the release name alone when it already contains the chart name.
*/}}
{{- define "tally.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name and version of the chart, for the helm.sh/chart label. */}}
{{- define "tally.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "tally.labels" -}}
helm.sh/chart: {{ include "tally.chart" . }}
{{ include "tally.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that identify the release's pods; immutable in a Deployment's selector. */}}
{{- define "tally.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tally.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector of the serving pods only. The component label keeps the migration Job's and the
helm test's pods out of the Service, the PDB and the NetworkPolicy.
*/}}
{{- define "tally.serverSelectorLabels" -}}
{{ include "tally.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "tally.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tally.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: the digest wins over the tag, which defaults to the appVersion. */}}
{{- define "tally.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Port the pods listen on for gRPC. Fixed: the Service maps service.port onto it. */}}
{{- define "tally.grpcPort" -}}50051{{- end }}

{{/* "true" when the plaintext health listener runs: asked for, or needed because of TLS. */}}
{{- define "tally.healthListener" -}}
{{- if or .Values.healthListener.enabled .Values.tls.enabled }}true{{- end }}
{{- end }}

{{/* Container port the probes and the helm test check. */}}
{{- define "tally.probePort" -}}
{{- if include "tally.healthListener" . }}{{ .Values.healthListener.port }}{{- else }}{{ include "tally.grpcPort" . }}{{- end }}
{{- end }}

{{/* Name of the probed Service port. */}}
{{- define "tally.probePortName" -}}
{{- if include "tally.healthListener" . }}health{{- else }}grpc{{- end }}
{{- end }}

{{/* Service port the helm test calls. */}}
{{- define "tally.testServicePort" -}}
{{- if include "tally.healthListener" . }}{{ .Values.healthListener.port }}{{- else }}{{ .Values.service.port }}{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the preStop sleep, then the drain after SIGTERM, then 10 s for
the process to exit. A value set by hand is checked against the same sum, since a shorter one
lets the kubelet SIGKILL calls that are still draining.
*/}}
{{- define "tally.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.preStopSleepSeconds .Values.config.shutdownGraceSeconds }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $needed 10 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be longer than preStopSleepSeconds + config.shutdownGraceSeconds (%v), or in-flight calls are killed while draining; leave it null to derive it" .Values.terminationGracePeriodSeconds $needed) }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Rules across several values, which values.schema.json cannot word clearly. */}}
{{- define "tally.validate" -}}
{{- $v := .Values }}
{{- if eq $v.database.type "sqlite" }}
{{- if gt (int $v.replicaCount) 1 }}
{{- fail (printf "database.type=sqlite supports exactly one replica, but replicaCount is %v: SQLite is one file on a ReadWriteOnce volume. Set replicaCount: 1, or use database.type=postgres to scale." $v.replicaCount) }}
{{- end }}
{{- if $v.autoscaling.enabled }}
{{- fail "database.type=sqlite cannot autoscale (SQLite is one file on a ReadWriteOnce volume): set autoscaling.enabled: false, or use database.type=postgres." }}
{{- end }}
{{- if $v.podDisruptionBudget.enabled }}
{{- fail "database.type=sqlite runs a single replica, so a PodDisruptionBudget would block node drains for good: set podDisruptionBudget.enabled: false, or use database.type=postgres." }}
{{- end }}
{{- end }}
{{- if and (eq $v.database.type "postgres") (not $v.database.postgres.existingSecret) }}
{{- fail "database.type=postgres needs database.postgres.existingSecret: the name of a Secret holding the PostgreSQL URL under database.postgres.urlKey (the chart never takes the URL as a value)." }}
{{- end }}
{{- if not (or $v.customerKeys.existingSecret $v.customerKeys.insecureDevelopmentKey) }}
{{- fail "customerKeys.existingSecret is required: the name of a Secret holding, under customerKeys.key, the deployment's secret that keys stored e-mail hashes (at least 16 bytes, e.g. `openssl rand -hex 32`; keep it for good). For a trial only, set customerKeys.insecureDevelopmentKey: true." }}
{{- end }}
{{- if and $v.tls.enabled (not $v.tls.existingSecret) }}
{{- fail "tls.enabled needs tls.existingSecret: a Secret with the certificate and key (e.g. a kubernetes.io/tls Secret)." }}
{{- end }}
{{- if and $v.tls.clientCA.enabled (not $v.tls.enabled) }}
{{- fail "tls.clientCA.enabled (mutual TLS) needs tls.enabled." }}
{{- end }}
{{- if and $v.metrics.serviceMonitor.enabled (not $v.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled: there is no /metrics listener to scrape otherwise." }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%v) is above autoscaling.maxReplicas (%v)." $v.autoscaling.minReplicas $v.autoscaling.maxReplicas) }}
{{- end }}
{{- if and $v.autoscaling.enabled (not $v.autoscaling.targetCPUUtilizationPercentage) (not $v.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.enabled needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage." }}
{{- end }}
{{- if and $v.autoscaling.enabled $v.autoscaling.targetCPUUtilizationPercentage (not (and $v.resources.requests $v.resources.requests.cpu)) }}
{{- fail "autoscaling on CPU needs resources.requests.cpu: utilisation is measured against it." }}
{{- end }}
{{- if and $v.autoscaling.enabled $v.autoscaling.targetMemoryUtilizationPercentage (not (and $v.resources.requests $v.resources.requests.memory)) }}
{{- fail "autoscaling on memory needs resources.requests.memory: utilisation is measured against it." }}
{{- end }}
{{- if and $v.podDisruptionBudget.enabled (kindIs "invalid" $v.podDisruptionBudget.minAvailable) (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable) }}
{{- fail "podDisruptionBudget.enabled needs minAvailable or maxUnavailable." }}
{{- end }}
{{- if and (include "tally.healthListener" .) (eq (int $v.healthListener.port) 50051) }}
{{- fail "healthListener.port must differ from the gRPC port 50051." }}
{{- end }}
{{- if and $v.metrics.enabled (or (eq (int $v.metrics.port) 50051) (and (include "tally.healthListener" .) (eq (int $v.metrics.port) (int $v.healthListener.port)))) }}
{{- fail "metrics.port must differ from the gRPC port 50051 and from healthListener.port." }}
{{- end }}
{{- end }}

{{/* Pod securityContext shared by the server, the migration Job and the test pod. */}}
{{- define "tally.podSecurityContext" -}}
{{- toYaml (include "tally.adaptSecurityContext" (dict "context" .Values.podSecurityContext "root" .) | fromYaml) }}
{{- end }}

{{/* Container securityContext shared by every tally container: containerSecurityContext. */}}
{{- define "tally.containerSecurityContext" -}}
{{- toYaml (include "tally.adaptSecurityContext" (dict "context" .Values.containerSecurityContext "root" .) | fromYaml) }}
{{- end }}

{{/*
A securityContext from values without the null keys, and on OpenShift (openshift: true, or
auto on a cluster serving security.openshift.io/v1) without the fixed ids its restricted
SCC would refuse: its admission assigns the namespace's UID, GID and fsGroup instead.
*/}}
{{- define "tally.adaptSecurityContext" -}}
{{- $root := .root }}
{{- $openshift := or (eq (toString $root.Values.openshift) "true") (and (eq (toString $root.Values.openshift) "auto") ($root.Capabilities.APIVersions.Has "security.openshift.io/v1")) }}
{{- $out := dict }}
{{- range $key, $value := .context }}
{{- if and (not (kindIs "invalid" $value)) (not (and $openshift (has $key (list "runAsUser" "runAsGroup" "fsGroup")))) }}
{{- $_ := set $out $key $value }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
TALLY_DATABASE_URL: for PostgreSQL read from the existing Secret, so the URL and its password
stay out of values, the ConfigMap and the release record.
*/}}
{{- define "tally.databaseUrlEnv" -}}
{{- if eq .Values.database.type "postgres" }}
- name: TALLY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.postgres.existingSecret }}
      key: {{ .Values.database.postgres.urlKey }}
{{- else }}
- name: TALLY_DATABASE_URL
  value: sqlite:///data/tally.db
{{- end }}
{{- end }}

{{/*
TALLY_CUSTOMER_KEY_SECRET from its existing Secret (never a value, never in the ConfigMap),
or the explicit development fallback.
*/}}
{{- define "tally.customerKeyEnv" -}}
{{- if .Values.customerKeys.existingSecret }}
- name: TALLY_CUSTOMER_KEY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.customerKeys.existingSecret }}
      key: {{ .Values.customerKeys.key }}
{{- else }}
- name: TALLY_INSECURE_DEV_CUSTOMER_KEY
  value: "true"
{{- end }}
{{- end }}

{{/* Name of the PVC holding the SQLite database. */}}
{{- define "tally.sqliteClaimName" -}}
{{- default (printf "%s-data" (include "tally.fullname" .)) .Values.database.sqlite.persistence.existingClaim }}
{{- end }}

{{/* The image pull secrets, accepting plain names or {name: ...} objects. */}}
{{- define "tally.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
{{- if kindIs "string" . }}
  - name: {{ . }}
{{- else }}
  - name: {{ .name }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
