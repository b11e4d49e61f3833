{{/*
Umbrella-level helpers. The shared ones (names, labels, Secret name) are in charts/sioms-lib.
*/}}

{{/* Labels of an umbrella object: (dict "ctx" $ "name" "redis" "component" "cache" ["version" "7.2"]). */}}
{{- define "sioms.labels" -}}
{{ include "sioms-lib.labelsFor" . }}
{{- end -}}

{{- define "sioms.selectorLabels" -}}
{{ include "sioms-lib.selectorLabelsFor" . }}
{{- end -}}

{{/* "<release>-<suffix>", at most 63 characters. */}}
{{- define "sioms.name" -}}
{{- printf "%s-%s" .ctx.Release.Name .suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The dev data stores' Secret (passwords of the in-cluster Redis, Postgres, RabbitMQ). */}}
{{- define "sioms.devSecretName" -}}
{{- printf "%s-dev-datastores" .Release.Name -}}
{{- end -}}

{{/* The five SIOMS services (sub-chart names), the ones with /metrics. */}}
{{- define "sioms.services" -}}
{{- toJson (list "inventory-service" "order-service" "pricing-service" "analytics-service" "notification-service") -}}
{{- end -}}

{{/* The port of a sub-chart's Service: (dict "ctx" $ "chart" "inventory-service"). */}}
{{- define "sioms.port" -}}
{{- index .ctx.Values .chart "service" "port" -}}
{{- end -}}

{{/* Pod and container hardening of the dev data stores: the official images' own user 999. */}}
{{- define "sioms.devPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: 999
runAsGroup: 999
fsGroup: 999
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "sioms.devContainerSecurityContext" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* A volumeClaimTemplate: (dict "ctx" $ "name" "data" "size" "1Gi"). */}}
{{- define "sioms.devVolumeClaim" -}}
- metadata:
    name: {{ .name }}
  spec:
    accessModes: ["ReadWriteOnce"]
    {{- with .ctx.Values.dev.storageClassName }}
    storageClassName: {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ .size }}
{{- end -}}
