{{/*
OpenAPI v3 schemas of the policy.sigstore.dev resources, field for field the ones policy-controller
installs (v0.13, config/300-*.yaml), so every policy written for it is stored unchanged: a structural
schema prunes fields it does not list. Validation beyond types (exactly one of key/keyless/static, glob
syntax, ...) is `sigward policy validate`'s and the server's job, as in policy-controller, where its
validating webhook does it.
*/}}

{{- define "sigward-admission.schema.secretRef" -}}
type: object
properties:
  name: {type: string}
  namespace: {type: string}
{{- end }}

{{/* A public key: inline PEM, a KMS URI, or a Secret (authorities[].key and keyless.ca-cert). */}}
{{- define "sigward-admission.schema.keyRef" -}}
type: object
properties:
  data: {type: string}
  kms: {type: string}
  hashAlgorithm: {type: string}
  secretRef:
    {{- include "sigward-admission.schema.secretRef" . | nindent 4 }}
{{- end }}

{{/* A Rego or CUE policy: inline, from a ConfigMap, or a URL pinned by sha256. */}}
{{- define "sigward-admission.schema.policy" -}}
type: object
properties:
  type: {type: string}
  data: {type: string}
  remote:
    type: object
    properties:
      url: {type: string}
      sha256sum: {type: string}
  configMapRef:
    type: object
    properties:
      name: {type: string}
      namespace: {type: string}
      key: {type: string}
  includeSpec: {type: boolean}
  includeObjectMeta: {type: boolean}
  includeTypeMeta: {type: boolean}
  fetchConfigFile: {type: boolean}
{{- end }}

{{- define "sigward-admission.schema.trustRootRef" -}}
type: object
properties:
  trustRootRef: {type: string}
{{- end }}

{{- define "sigward-admission.schema.authority" -}}
type: object
properties:
  name: {type: string}
  key:
    {{- include "sigward-admission.schema.keyRef" . | nindent 4 }}
  keyless:
    type: object
    properties:
      url: {type: string}
      ca-cert:
        {{- include "sigward-admission.schema.keyRef" . | nindent 8 }}
      identities:
        type: array
        items:
          type: object
          properties:
            issuer: {type: string}
            issuerRegExp: {type: string}
            subject: {type: string}
            subjectRegExp: {type: string}
      insecureIgnoreSCT: {type: boolean}
      trustRootRef: {type: string}
  static:
    type: object
    properties:
      action: {type: string}
      message: {type: string}
  source:
    type: array
    items:
      type: object
      properties:
        oci: {type: string}
        tagPrefix: {type: string}
        signaturePullSecrets:
          type: array
          items:
            type: object
            properties:
              name: {type: string}
  ctlog:
    type: object
    properties:
      url: {type: string}
      trustRootRef: {type: string}
  rfc3161timestamp:
    {{- include "sigward-admission.schema.trustRootRef" . | nindent 4 }}
  signatureFormat: {type: string}
  attestations:
    type: array
    items:
      type: object
      properties:
        name: {type: string}
        predicateType: {type: string}
        policy:
          {{- include "sigward-admission.schema.policy" . | nindent 10 }}
{{- end }}

{{/* knative's duck-typed status, written by policy-controller's reconciler (sigward does not write it). */}}
{{- define "sigward-admission.schema.status" -}}
type: object
properties:
  observedGeneration: {type: integer, format: int64}
  annotations:
    type: object
    x-kubernetes-preserve-unknown-fields: true
  conditions:
    type: array
    items:
      type: object
      required: [type, status]
      properties:
        type: {type: string}
        status: {type: string}
        severity: {type: string}
        reason: {type: string}
        message: {type: string}
        lastTransitionTime: {type: string}
{{- end }}

{{- define "sigward-admission.schema.clusterImagePolicy" -}}
openAPIV3Schema:
  type: object
  description: Which images must be signed, and by whom, to be admitted (policy-controller's ClusterImagePolicy).
  properties:
    spec:
      type: object
      properties:
        images:
          type: array
          items:
            type: object
            properties:
              glob: {type: string}
        authorities:
          type: array
          items:
            {{- include "sigward-admission.schema.authority" . | nindent 12 }}
        policy:
          {{- include "sigward-admission.schema.policy" . | nindent 10 }}
        mode: {type: string}
        match:
          type: array
          items:
            type: object
            properties:
              group: {type: string}
              version: {type: string}
              resource: {type: string}
              selector:
                type: object
                properties:
                  matchLabels:
                    type: object
                    x-kubernetes-preserve-unknown-fields: true
                  matchExpressions:
                    type: array
                    items:
                      type: object
                      properties:
                        key: {type: string}
                        operator: {type: string}
                        values:
                          type: array
                          items: {type: string}
    status:
      {{- include "sigward-admission.schema.status" . | nindent 6 }}
{{- end }}

{{- define "sigward-admission.schema.certificateAuthority" -}}
type: array
items:
  type: object
  properties:
    subject:
      type: object
      properties:
        organization: {type: string}
        commonName: {type: string}
    uri: {type: string}
    certChain: {type: string}
{{- end }}

{{- define "sigward-admission.schema.transparencyLog" -}}
type: array
items:
  type: object
  properties:
    baseURL: {type: string}
    hashAlgorithm: {type: string}
    publicKey: {type: string}
{{- end }}

{{- define "sigward-admission.schema.tufRepository" -}}
type: object
properties:
  root: {type: string}
  targets: {type: string}
  trustedRootTarget: {type: string}
{{- end }}

{{- define "sigward-admission.schema.trustRoot" -}}
openAPIV3Schema:
  type: object
  description: Sigstore trust material (CAs, logs, TSAs) that ClusterImagePolicy authorities refer to by name.
  properties:
    spec:
      type: object
      properties:
        remote:
          {{- include "sigward-admission.schema.tufRepository" . | nindent 10 }}
            mirror: {type: string}
        repository:
          {{- include "sigward-admission.schema.tufRepository" . | nindent 10 }}
            mirrorFS: {type: string}
        sigstoreKeys:
          type: object
          properties:
            certificateAuthorities:
              {{- include "sigward-admission.schema.certificateAuthority" . | nindent 14 }}
            timestampAuthorities:
              {{- include "sigward-admission.schema.certificateAuthority" . | nindent 14 }}
            tLogs:
              {{- include "sigward-admission.schema.transparencyLog" . | nindent 14 }}
            ctLogs:
              {{- include "sigward-admission.schema.transparencyLog" . | nindent 14 }}
    status:
      {{- include "sigward-admission.schema.status" . | nindent 6 }}
{{- end }}
