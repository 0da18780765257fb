{{- define "garo-agent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "garo-agent.labels" -}}
app.kubernetes.io/name: garo-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "garo-agent.selector" -}}
app.kubernetes.io/name: garo-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "garo-agent.runnerNamespace" -}}
{{- default .Release.Namespace .Values.runners.namespace -}}
{{- end -}}

{{- define "garo-agent.secretName" -}}
{{- default (include "garo-agent.fullname" .) .Values.registration.existingSecret -}}
{{- end -}}

{{/* Every namespace the agent works in: the runner namespace first, then watchNamespaces. */}}
{{- define "garo-agent.namespaces" -}}
{{- $all := list (include "garo-agent.runnerNamespace" .) -}}
{{- range .Values.runners.watchNamespaces }}{{ if not (has . $all) }}{{ $all = append $all . }}{{ end }}{{ end -}}
{{- join "," $all -}}
{{- end -}}
