{{/*
The Service: port = containerPort (8081..8085, gateway 8080), named "http", so the in-cluster
URLs are http://<release>-<chart>:<port>. Usage: {{ include "sioms-lib.service" . }}
*/}}
{{- define "sioms-lib.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "sioms-lib.fullname" . }}
  labels:
    {{- include "sioms-lib.labels" . | nindent 4 }}
  {{- with .Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .Values.service.type }}
  {{- with (get .Values.service "externalTrafficPolicy") }}
  externalTrafficPolicy: {{ . }}
  {{- end }}
  selector:
    {{- include "sioms-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
      {{- if and (eq .Values.service.type "NodePort") .Values.service.nodePort }}
      nodePort: {{ .Values.service.nodePort }}
      {{- end }}
{{- end -}}
