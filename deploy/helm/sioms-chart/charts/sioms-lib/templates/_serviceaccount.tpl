{{/* The chart's own ServiceAccount, without the API token (no SIOMS pod talks to the API). */}}
{{- define "sioms-lib.serviceaccount" -}}
{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "sioms-lib.serviceAccountName" . }}
  labels:
    {{- include "sioms-lib.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}
{{- end -}}
