{{/* policy/v1 PodDisruptionBudget, when .Values.podDisruptionBudget.enabled. */}}
{{- define "sioms-lib.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "sioms-lib.fullname" . }}
  labels:
    {{- include "sioms-lib.labels" . | nindent 4 }}
spec:
  {{- if hasKey .Values.podDisruptionBudget "minAvailable" }}
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "sioms-lib.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}
