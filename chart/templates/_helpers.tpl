{{/*
Names, labels and the checks that a JSON schema cannot express.
*/}}

{{/* The chart name (nameOverride). */}}
{{- define "inventory-sync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified name of every object, as `helm create` makes it: trimmed to 63
characters (a DNS label). A release name that contains the chart name is used as it is.
*/}}
{{- define "inventory-sync.fullname" -}}
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

{{/* The CronJob's name: at most 52 characters (Kubernetes appends 11 for each Job). */}}
{{- define "inventory-sync.cronJobName" -}}
{{- include "inventory-sync.fullname" . | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of a manual Job's name: `<prefix>-manual-<10 digits>` stays within 63. */}}
{{- define "inventory-sync.manualJobPrefix" -}}
{{- include "inventory-sync.fullname" . | trunc 45 | trimSuffix "-" }}
{{- end }}

{{- define "inventory-sync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "inventory-sync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inventory-sync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "inventory-sync.labels" -}}
helm.sh/chart: {{ include "inventory-sync.chart" . }}
{{ include "inventory-sync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: inventory-sync
{{- end }}

{{- define "inventory-sync.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "inventory-sync.profilesConfigMap" -}}
{{- printf "%s-profiles" (include "inventory-sync.fullname" .) }}
{{- end }}

{{- define "inventory-sync.stateConfigMap" -}}
{{- printf "%s-state" (include "inventory-sync.fullname" .) }}
{{- end }}

{{/*
The Lease that locks one profile, named as the job names it (lease_name() in
src/inventory_sync/state/configmap.py, with INVENTORY_SYNC_LEASE_PREFIX = <fullname>):
<prefix>-<profile> when that is a DNS subdomain of at most 253 characters, else the name
cleaned to one, with the first 10 hex digits of the profile's SHA-256 appended.
Takes a dict: prefix, profile. tests/chart check it against the job's function.
*/}}
{{- define "inventory-sync.leaseName" -}}
{{- $name := printf "%s-%s" .prefix .profile }}
{{- if and (le (len $name) 253) (regexMatch `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$` $name) }}
{{- $name }}
{{- else }}
{{- $cleaned := regexReplaceAll `[^a-z0-9.-]+` (lower $name) "-" }}
{{- $cleaned = regexReplaceAll `\.{2,}` $cleaned "." }}
{{- $cleaned = regexReplaceAll `-?\.-?` $cleaned "." | trimAll ".-" | trunc 242 | trimAll ".-" }}
{{- printf "%s-%s" $cleaned (sha256sum .profile | trunc 10) }}
{{- end }}
{{- end }}

{{/* The Leases of every profile, and the one `check` reads (<prefix>-check, CHECK_PROBE in
configmap.py), as a JSON list (the Role's resourceNames). */}}
{{- define "inventory-sync.leaseNames" -}}
{{- $prefix := include "inventory-sync.fullname" . }}
{{- $names := list (include "inventory-sync.leaseName" (dict "prefix" $prefix "profile" "check")) }}
{{- range .Values.profiles }}
{{- $names = append $names (include "inventory-sync.leaseName" (dict "prefix" $prefix "profile" .name)) }}
{{- end }}
{{- $names | toJson }}
{{- end }}

{{- define "inventory-sync.secretName" -}}
{{- .Values.existingSecret | default (include "inventory-sync.fullname" .) }}
{{- end }}

{{/* The backend talks to the Kubernetes API (state ConfigMap and Leases). */}}
{{- define "inventory-sync.needsApi" -}}
{{- if eq .Values.state.backend "configmap" }}true{{ end }}
{{- end }}

{{- define "inventory-sync.serviceAccountName" -}}
{{- if and (include "inventory-sync.needsApi" .) .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "inventory-sync.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/* The profiles file, exactly as the job reads it. */}}
{{- define "inventory-sync.profilesFile" -}}
{{- dict "profiles" .Values.profiles | toYaml }}
{{- end }}

{{/*
Secret keys → file names in INVENTORY_SYNC_SECRETS_DIR. The required ones; redisPassword is
mounted optionally with the redis backend.
*/}}
{{- define "inventory-sync.secretFiles" -}}
fluentUsername: INVENTORY_SYNC_FLUENT_USERNAME
fluentPassword: INVENTORY_SYNC_FLUENT_PASSWORD
fluentClientId: INVENTORY_SYNC_FLUENT_CLIENT_ID
fluentClientSecret: INVENTORY_SYNC_FLUENT_CLIENT_SECRET
ctClientId: INVENTORY_SYNC_CT_CLIENT_ID
ctClientSecret: INVENTORY_SYNC_CT_CLIENT_SECRET
{{- end }}

{{/* Variable names the chart sets itself, or that are credentials (never env values). */}}
{{- define "inventory-sync.managedEnv" -}}
{{- list "INVENTORY_SYNC_FLUENT_URL" "INVENTORY_SYNC_CT_AUTH_URL" "INVENTORY_SYNC_CT_API_URL" "INVENTORY_SYNC_CT_PROJECT_KEY" "INVENTORY_SYNC_CT_SCOPES" "INVENTORY_SYNC_PROFILES_FILE" "INVENTORY_SYNC_SECRETS_DIR" "INVENTORY_SYNC_STATE_BACKEND" "INVENTORY_SYNC_STATE_CONFIGMAP" "INVENTORY_SYNC_STATE_NAMESPACE" "INVENTORY_SYNC_STATE_DIR" "INVENTORY_SYNC_LEASE_PREFIX" "INVENTORY_SYNC_REDIS_URL" "INVENTORY_SYNC_REDIS_KEY_PREFIX" "INVENTORY_SYNC_PUSHGATEWAY_URL" "INVENTORY_SYNC_RUN_DEADLINE_SECONDS" "INVENTORY_SYNC_SHARDS" "INVENTORY_SYNC_SHARD_INDEX" "INVENTORY_SYNC_LOG_FORMAT" "INVENTORY_SYNC_LOG_LEVEL" "JOB_COMPLETION_INDEX" | toJson }}
{{- end }}

{{/* Checks across values; each failure names the value to fix. */}}
{{- define "inventory-sync.validate" -}}
{{- $names := list }}
{{- range $i, $p := .Values.profiles }}
{{- if has $p.name $names }}
{{- fail (printf "profiles[%d].name: %q is used by more than one profile" $i $p.name) }}
{{- end }}
{{- $names = append $names $p.name }}
{{- end }}
{{- if gt (int .Values.shards) (len .Values.profiles) }}
{{- fail (printf "shards: %d is more than the %d profile(s) in profiles; some pods would have nothing to do" (int .Values.shards) (len .Values.profiles)) }}
{{- end }}
{{- if and (gt (int .Values.shards) 1) (not (kindIs "invalid" .Values.maxFailedIndexes)) }}
{{- if gt (int .Values.maxFailedIndexes) (int .Values.shards) }}
{{- fail (printf "maxFailedIndexes: %d is more than shards (%d); Kubernetes allows at most the number of indexes" (int .Values.maxFailedIndexes) (int .Values.shards)) }}
{{- end }}
{{- end }}
{{- if le (int .Values.shards) 1 }}
{{- range $i, $rule := (.Values.podFailurePolicy | default dict).rules }}
{{- if eq $rule.action "FailIndex" }}
{{- fail (printf "podFailurePolicy.rules[%d].action: FailIndex fails one shard's index and needs shards > 1 (backoffLimitPerIndex); use FailJob with one shard" $i) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* after its deadline the job lets work in flight finish for INVENTORY_SYNC_STOP_GRACE_SECONDS (default 20) */}}
{{- $grace := 20.0 }}
{{- if hasKey .Values.config "INVENTORY_SYNC_STOP_GRACE_SECONDS" }}
{{- $grace = float64 (get .Values.config "INVENTORY_SYNC_STOP_GRACE_SECONDS") }}
{{- end }}
{{- if ge (addf .Values.runDeadlineSeconds $grace) (float64 .Values.activeDeadlineSeconds) }}
{{- fail (printf "runDeadlineSeconds: %d plus the stop grace (%v s) must be below activeDeadlineSeconds (%d), so the job stops and saves its state before Kubernetes kills it" (int .Values.runDeadlineSeconds) $grace (int .Values.activeDeadlineSeconds)) }}
{{- end }}
{{- if ge $grace (float64 .Values.terminationGracePeriodSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds: %d must be longer than the stop grace (%v s), so the job can save its state after SIGTERM before Kubernetes kills it" (int .Values.terminationGracePeriodSeconds) $grace) }}
{{- end }}
{{- if regexMatch "^[a-z]+://[^/@]*:[^/@]*@" .Values.state.redis.url }}
{{- fail "state.redis.url: carries a password, which would be a plain env value; put it into the Secret key redisPassword" }}
{{- end }}
{{- $managed := include "inventory-sync.managedEnv" . | fromJsonArray }}
{{- $credential := values (include "inventory-sync.secretFiles" . | fromYaml) | concat (list "INVENTORY_SYNC_REDIS_PASSWORD") }}
{{- range $name, $_ := .Values.config }}
{{- if has $name $credential }}
{{- fail (printf "config.%s: a credential never goes into env; put it into the Secret (credentials or existingSecret)" $name) }}
{{- end }}
{{- if has $name $managed }}
{{- fail (printf "config.%s is set by the chart from its own values, or by Kubernetes (see the chart README)" $name) }}
{{- end }}
{{- end }}
{{- range $i, $e := .Values.extraEnv }}
{{- if has $e.name $credential }}
{{- fail (printf "extraEnv[%d].name: %s is a credential and never goes into env; put it into the Secret (credentials or existingSecret)" $i $e.name) }}
{{- end }}
{{- if has $e.name $managed }}
{{- fail (printf "extraEnv[%d].name: %s is set by the chart from its own values, or by Kubernetes (see the chart README)" $i $e.name) }}
{{- end }}
{{- end }}
{{- if .Values.networkPolicy.enabled }}
{{- $np := .Values.networkPolicy }}
{{- $needed := list "dns" "fluent" "commercetools" }}
{{- if eq .Values.state.backend "configmap" }}{{ $needed = append $needed "kubernetesApi" }}{{ end }}
{{- if eq .Values.state.backend "redis" }}{{ $needed = append $needed "redis" }}{{ end }}
{{- if .Values.metrics.pushgatewayUrl }}{{ $needed = append $needed "pushgateway" }}{{ end }}
{{- range $needed }}
{{- if not (get $np .).cidrs }}
{{- fail (printf "networkPolicy.%s.cidrs: empty, but the job needs to reach it when networkPolicy.enabled is true" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
