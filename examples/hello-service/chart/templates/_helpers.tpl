{{/* Chart name, truncated to the 63 characters Kubernetes allows in a label. */}}
{{- define "hello-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hello-service.fullname" -}}
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

{{- define "hello-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hello-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hello-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hello-service.labels" -}}
helm.sh/chart: {{ include "hello-service.chart" . }}
{{ include "hello-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "hello-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hello-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image by digest: a chart that would deploy a tag fails to render instead. */}}
{{- define "hello-service.image" -}}
{{- $digest := required "image.digest is required (sha256:...): hello-service deploys by digest only" .Values.image.digest }}
{{- if not (hasPrefix "sha256:" $digest) }}
{{- fail (printf "image.digest must be a sha256 digest, not %q" $digest) }}
{{- end }}
{{- printf "%s@%s" .Values.image.repository $digest }}
{{- end }}
