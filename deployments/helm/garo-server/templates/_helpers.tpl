{{- define "garo-server.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "garo-server.labels" -}}
app.kubernetes.io/name: garo-server
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "garo-server.selector" -}}
app.kubernetes.io/name: garo-server
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "garo-server.secretName" -}}
{{- default (include "garo-server.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}
