{{/* Chart name, truncated to the 63 characters Kubernetes allows in a label. */}}
{{- define "sigward-admission.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sigward-admission.fullname" -}}
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

{{- define "sigward-admission.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sigward-admission.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sigward-admission.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "sigward-admission.labels" -}}
helm.sh/chart: {{ include "sigward-admission.chart" . }}
app.kubernetes.io/name: {{ include "sigward-admission.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sigward
{{- end }}

{{- define "sigward-admission.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sigward-admission.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image by digest: "repository@sha256:<64 hex>". A chart that would deploy a tag fails to render instead,
naming the value to set. Call with (dict "image" .Values.image "what" "image").
*/}}
{{- define "sigward-admission.imageByDigest" -}}
{{- $what := .what }}
{{- $repo := required (printf "%s.repository is required" $what) .image.repository }}
{{- $digest := required (printf "%s.digest is required (sha256:<64 hex>): sigward-admission deploys images by digest only; scripts/build-own-image.sh prints it" $what) .image.digest }}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" $digest) }}
{{- fail (printf "%s.digest must be sha256:<64 lowercase hex>, not %q" $what $digest) }}
{{- end }}
{{- if or (contains "@" $repo) (regexMatch ":[^/]*$" $repo) }}
{{- fail (printf "%s.repository must be a repository without tag or digest, not %q" $what $repo) }}
{{- end }}
{{- printf "%s@%s" $repo $digest }}
{{- end }}

{{- define "sigward-admission.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "sigward-admission.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{- define "sigward-admission.policiesConfigMap" -}}
{{- default (printf "%s-policies" (include "sigward-admission.fullname" .)) .Values.existingPoliciesConfigMap }}
{{- end }}

{{- define "sigward-admission.redisName" -}}
{{- printf "%s-redis" (include "sigward-admission.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The CA the API server checks the webhook's certificate against. */}}
{{- define "sigward-admission.caBundle" -}}
{{- $ca := required "tls.caBundle is required: base64 of the PEM CA certificate that issued the webhook's serving certificate" .Values.tls.caBundle }}
{{- if not (b64dec $ca | contains "-----BEGIN CERTIFICATE-----") }}
{{- fail "tls.caBundle must be base64 of a PEM CA certificate (-----BEGIN CERTIFICATE-----)" }}
{{- end }}
{{- $ca }}
{{- end }}

{{/* The namespace selector: the configured opt-in, and never the release's own namespace. */}}
{{- define "sigward-admission.namespaceSelector" -}}
{{- $sel := deepCopy (default dict .Values.webhook.namespaceSelector) }}
{{- $exprs := concat (default list $sel.matchExpressions) (list (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (list .Release.Namespace))) }}
{{- $_ := set $sel "matchExpressions" $exprs }}
{{- toYaml $sel }}
{{- end }}

{{/* What the webhooks intercept: pods and every workload with a pod template (policy-controller's set). */}}
{{- define "sigward-admission.rules" -}}
- apiGroups: [""]
  apiVersions: ["v1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["pods", "pods/ephemeralcontainers"]
  scope: Namespaced
- apiGroups: ["apps"]
  apiVersions: ["v1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
  scope: Namespaced
- apiGroups: ["batch"]
  apiVersions: ["v1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["jobs", "cronjobs"]
  scope: Namespaced
{{- end }}
