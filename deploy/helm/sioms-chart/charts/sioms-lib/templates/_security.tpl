{{/*
Hardening every SIOMS pod gets. A chart may override single fields with
.Values.podSecurityContext / .Values.containerSecurityContext (merged over these defaults).
The images run as the numeric user 10001 (Dockerfile: USER 10001:10001).
*/}}
{{- define "sioms-lib.podSecurityContext" -}}
{{- $defaults := dict "runAsNonRoot" true "runAsUser" 10001 "runAsGroup" 10001 "fsGroup" 10001 "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (get .Values "podSecurityContext" | default dict)) -}}
{{- end -}}

{{- define "sioms-lib.containerSecurityContext" -}}
{{- $defaults := dict "readOnlyRootFilesystem" true "allowPrivilegeEscalation" false "capabilities" (dict "drop" (list "ALL")) -}}
{{- toYaml (mergeOverwrite $defaults (get .Values "containerSecurityContext" | default dict)) -}}
{{- end -}}

{{/* An httpGet probe on the "http" port from {path, periodSeconds, timeoutSeconds, failureThreshold, initialDelaySeconds}. */}}
{{- define "sioms-lib.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
initialDelaySeconds: {{ get . "initialDelaySeconds" | default 0 }}
periodSeconds: {{ get . "periodSeconds" | default 10 }}
timeoutSeconds: {{ get . "timeoutSeconds" | default 3 }}
failureThreshold: {{ get . "failureThreshold" | default 3 }}
{{- end -}}

{{- define "sioms-lib.probes" -}}
livenessProbe:
  {{- include "sioms-lib.httpProbe" .Values.probes.liveness | nindent 2 }}
readinessProbe:
  {{- include "sioms-lib.httpProbe" .Values.probes.readiness | nindent 2 }}
startupProbe:
  {{- include "sioms-lib.httpProbe" .Values.probes.startup | nindent 2 }}
{{- end -}}

{{/*
The container's env: the port variable, every secretEnv entry (VARIABLE: key in the Secret) as
a secretKeyRef, then the plain env (values go through tpl, so they may name the release:
"http://{{ .Release.Name }}-inventory-service:8081"). Nothing secret belongs in env.
*/}}
{{- define "sioms-lib.env" -}}
{{- $secret := include "sioms-lib.secretName" . -}}
- name: {{ .Values.portEnv }}
  value: {{ .Values.service.port | quote }}
{{- range $name, $key := .Values.secretEnv }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ tpl (toString $value) $ | quote }}
{{- end }}
{{- end -}}
