{{/*
Names, labels, image and checksum helpers shared by the umbrella and every sub-chart.
Every object of a sub-chart is named "<release>-<chart name>", e.g. sioms-inventory-service,
so the services can find each other by a name known in advance (order-service's INVENTORY_URL,
the gateway's upstreams).
*/}}

{{/* "<release>-<chart>", at most 63 characters. */}}
{{- define "sioms-lib.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<chart>-<version>" for helm.sh/chart. */}}
{{- define "sioms-lib.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of any object. Takes a dict: ctx (the root context), name (app.kubernetes.io/name),
component, and optionally version (defaults to the chart's appVersion).
*/}}
{{- define "sioms-lib.labelsFor" -}}
helm.sh/chart: {{ include "sioms-lib.chart" .ctx }}
{{ include "sioms-lib.selectorLabelsFor" . }}
app.kubernetes.io/version: {{ .version | default .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: sioms
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end -}}

{{- define "sioms-lib.selectorLabelsFor" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{/* The labels and selector labels of a sub-chart's objects. */}}
{{- define "sioms-lib.labels" -}}
{{ include "sioms-lib.labelsFor" (dict "ctx" . "name" .Chart.Name "component" .Values.component) }}
{{- end -}}

{{- define "sioms-lib.selectorLabels" -}}
{{ include "sioms-lib.selectorLabelsFor" (dict "ctx" . "name" .Chart.Name) }}
{{- end -}}

{{/* The global values, an empty dict when the chart is rendered alone. */}}
{{- define "sioms-lib.global" -}}
{{- toYaml (get .Values "global" | default dict) -}}
{{- end -}}

{{/*
The Secret with the connection settings and the admin token: global.existingSecret when named,
else the one the umbrella chart renders ("<release>-secrets").
*/}}
{{- define "sioms-lib.secretName" -}}
{{- $g := include "sioms-lib.global" . | fromYaml -}}
{{- get $g "existingSecret" | default (printf "%s-secrets" .Release.Name) -}}
{{- end -}}

{{/*
The image: [global.imageRegistry/]image.repository:(image.tag | global.imageTag | appVersion).
*/}}
{{- define "sioms-lib.image" -}}
{{- $g := include "sioms-lib.global" . | fromYaml -}}
{{- $registry := get $g "imageRegistry" | default "" | trimSuffix "/" -}}
{{- $tag := .Values.image.tag | default (get $g "imageTag") | default .Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
sha256 of everything the pods' configuration comes from (the Secret's values, the plain env),
as the pod annotation checksum/config: a change rolls the pods. A Secret named by
global.existingSecret is outside the chart, so only its name counts.
*/}}
{{- define "sioms-lib.configChecksum" -}}
{{- $g := include "sioms-lib.global" . | fromYaml -}}
{{- dict "secrets" (get $g "secrets") "existingSecret" (get $g "existingSecret") "env" .Values.env "secretEnv" .Values.secretEnv | toJson | sha256sum -}}
{{- end -}}

{{/* The ServiceAccount's name. */}}
{{- define "sioms-lib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "sioms-lib.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}
