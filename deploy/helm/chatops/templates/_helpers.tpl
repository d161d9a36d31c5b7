{{/* Names and labels shared by every template. */}}

{{- define "chatops.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chatops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "chatops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "chatops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "chatops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "chatops.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "chatops.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "chatops.fullname" .) -}}
{{- end -}}

{{- define "chatops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "chatops.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/*
Refuse at install time what would only fail later, one pod restart at a time: missing
credentials, and several replicas on SQLite (each pod would poll and alert on its own file).
*/}}
{{- define "chatops.validate" -}}
{{- $secrets := .Values.secrets.values | default dict -}}
{{- if not .Values.secrets.existingSecret -}}
{{- $missing := list -}}
{{- range $name := list "CHATOPS_DATABASE_URL" "SLACK_BOT_TOKEN" "LP_ACCOUNT_ID" -}}
{{- if not (get $secrets $name) -}}{{- $missing = append $missing $name -}}{{- end -}}
{{- end -}}
{{- if not (or (get $secrets "SLACK_SIGNING_SECRET") (get $secrets "SLACK_APP_TOKEN")) -}}
{{- $missing = append $missing "SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)" -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "chatops: set secrets.existingSecret, or secrets.values with %s" (join ", " $missing)) -}}
{{- end -}}
{{- end -}}
{{- range $name := list "CHATOPS_DATABASE_URL" "SLACK_BOT_TOKEN" "SLACK_SIGNING_SECRET" "SLACK_APP_TOKEN" "LP_PASSWORD" "LP_APP_KEY" "LP_SECRET" "LP_ACCESS_TOKEN" "LP_ACCESS_TOKEN_SECRET" -}}
{{- if hasKey ($.Values.env | default dict) $name -}}
{{- fail (printf "chatops: %s is a secret: set it in secrets.values or secrets.existingSecret, not in env (env is visible in the Deployment)" $name) -}}
{{- end -}}
{{- end -}}
{{- $url := get $secrets "CHATOPS_DATABASE_URL" | default "" -}}
{{- if and (gt (int .Values.replicaCount) 1) (hasPrefix "sqlite" $url) -}}
{{- fail (printf "chatops: replicaCount is %d but CHATOPS_DATABASE_URL is SQLite: several replicas need PostgreSQL (postgresql+asyncpg://...)" (int .Values.replicaCount)) -}}
{{- end -}}
{{- end -}}

{{/* Environment every chatops container gets (the migration init container too). */}}
{{- define "chatops.env" -}}
- name: CHATOPS_CONFIG
  value: /etc/chatops/chatops.yml
- name: CHATOPS_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: CHATOPS_PORT
  value: "3000"
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "chatops.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
