{{/*
The pod spec of every run: the CronJob's pods and the `helm test` pod share it, so a
passing test says the scheduled runs get the same settings, credentials and profiles.
Takes a dict: root (the chart's context) and args (the container's arguments).
*/}}
{{- define "inventory-sync.podSpec" -}}
{{- $root := .root }}
{{- $args := .args }}
{{- $fullname := include "inventory-sync.fullname" $root }}
{{- $needsApi := include "inventory-sync.needsApi" $root }}
{{- $shards := int $root.Values.shards }}
restartPolicy: Never
terminationGracePeriodSeconds: {{ int $root.Values.terminationGracePeriodSeconds }}
serviceAccountName: {{ include "inventory-sync.serviceAccountName" $root }}
# The API token is mounted only for the configmap backend (state ConfigMap, Leases).
automountServiceAccountToken: {{ $needsApi | empty | not }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $root.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: inventory-sync
    image: {{ include "inventory-sync.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    {{- with $args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    env:
      # Left out when empty, so the job reports the setting as missing (exit code 2).
      {{- with $root.Values.fluent.url }}
      - name: INVENTORY_SYNC_FLUENT_URL
        value: {{ . | quote }}
      {{- end }}
      - name: INVENTORY_SYNC_CT_AUTH_URL
        value: {{ $root.Values.commercetools.authUrl | quote }}
      - name: INVENTORY_SYNC_CT_API_URL
        value: {{ $root.Values.commercetools.apiUrl | quote }}
      {{- with $root.Values.commercetools.projectKey }}
      - name: INVENTORY_SYNC_CT_PROJECT_KEY
        value: {{ . | quote }}
      {{- end }}
      {{- with $root.Values.commercetools.scopes }}
      - name: INVENTORY_SYNC_CT_SCOPES
        value: {{ . | quote }}
      {{- end }}
      - name: INVENTORY_SYNC_PROFILES_FILE
        value: /etc/inventory-sync/profiles.yaml
      # Credentials arrive as files in this directory (the Secret volume), never as env.
      - name: INVENTORY_SYNC_SECRETS_DIR
        value: /var/run/secrets/inventory-sync
      - name: INVENTORY_SYNC_STATE_BACKEND
        value: {{ $root.Values.state.backend | quote }}
      {{- if eq $root.Values.state.backend "configmap" }}
      - name: INVENTORY_SYNC_STATE_CONFIGMAP
        value: {{ include "inventory-sync.stateConfigMap" $root | quote }}
      - name: INVENTORY_SYNC_STATE_NAMESPACE
        valueFrom:
          fieldRef:
            fieldPath: metadata.namespace
      - name: INVENTORY_SYNC_LEASE_PREFIX
        value: {{ $fullname | quote }}
      {{- else if eq $root.Values.state.backend "redis" }}
      - name: INVENTORY_SYNC_REDIS_URL
        value: {{ $root.Values.state.redis.url | quote }}
      - name: INVENTORY_SYNC_REDIS_KEY_PREFIX
        value: {{ $root.Values.state.redis.keyPrefix | default $fullname | quote }}
      {{- end }}
      {{- with $root.Values.metrics.pushgatewayUrl }}
      - name: INVENTORY_SYNC_PUSHGATEWAY_URL
        value: {{ . | quote }}
      {{- end }}
      - name: INVENTORY_SYNC_RUN_DEADLINE_SECONDS
        value: {{ int $root.Values.runDeadlineSeconds | quote }}
      - name: INVENTORY_SYNC_SHARDS
        value: {{ $shards | quote }}
      - name: INVENTORY_SYNC_LOG_FORMAT
        value: json
      - name: INVENTORY_SYNC_LOG_LEVEL
        value: {{ $root.Values.logLevel | quote }}
      {{- range $name, $value := $root.Values.config }}
      - name: {{ $name }}
        {{- if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) }}
        value: {{ int64 $value | toString | quote }}
        {{- else }}
        value: {{ $value | toString | quote }}
        {{- end }}
      {{- end }}
      {{- with $root.Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      - name: profiles
        mountPath: /etc/inventory-sync
        readOnly: true
      - name: credentials
        mountPath: /var/run/secrets/inventory-sync
        readOnly: true
      {{- with $root.Values.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with $root.Values.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $root.Values.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
volumes:
  # The only writable path: the root filesystem is read-only.
  - name: tmp
    emptyDir:
      sizeLimit: {{ $root.Values.tmpSizeLimit }}
  - name: profiles
    configMap:
      name: {{ include "inventory-sync.profilesConfigMap" $root }}
      items:
        - key: profiles.yaml
          path: profiles.yaml
  # The Secret's keys become files named like the settings they hold.
  - name: credentials
    projected:
      defaultMode: 288  # 0440: the owner and fsGroup read, nobody writes
      sources:
        - secret:
            name: {{ include "inventory-sync.secretName" $root }}
            items:
              {{- range $key, $file := include "inventory-sync.secretFiles" $root | fromYaml }}
              - key: {{ $key }}
                path: {{ $file }}
              {{- end }}
        {{- if eq $root.Values.state.backend "redis" }}
        # Optional: a Redis without a password needs no key.
        - secret:
            name: {{ include "inventory-sync.secretName" $root }}
            optional: true
            items:
              - key: redisPassword
                path: INVENTORY_SYNC_REDIS_PASSWORD
        {{- end }}
  {{- with $root.Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
