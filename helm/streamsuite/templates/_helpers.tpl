{{/*
Names, labels and the small facts every template shares.
*/}}

{{- define "streamsuite.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or the release alone when it already contains the chart name. */}}
{{- define "streamsuite.fullname" -}}
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

{{- define "streamsuite.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "streamsuite.labels" -}}
helm.sh/chart: {{ include "streamsuite.chart" . }}
{{ include "streamsuite.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: streamsuite
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "streamsuite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streamsuite.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component's objects: (dict "root" $ "component" "web") */}}
{{- define "streamsuite.componentLabels" -}}
{{ include "streamsuite.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "streamsuite.componentSelectorLabels" -}}
{{ include "streamsuite.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* A podSelector matching the pods of the given components: (dict "root" $ "components" (list ...)) */}}
{{- define "streamsuite.componentsSelector" -}}
matchLabels:
  {{- include "streamsuite.selectorLabels" .root | nindent 2 }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: {{ toJson .components }}
{{- end }}

{{/*
The four services: the values key of each, whether it talks to Kafka, which database role it
uses ("writer", "reader" or none) and whether it signs paging cursors.
*/}}
{{- define "streamsuite.components" -}}
publisher: {key: publisher, kafka: true, database: "", cursor: false}
ingestor: {key: ingestor, kafka: true, database: writer, cursor: false}
query-api: {key: queryApi, kafka: false, database: reader, cursor: true}
web: {key: web, kafka: true, database: reader, cursor: true}
{{- end }}

{{/* Whether a component talks to Kafka: (dict "root" $ "component" "web") → "true" or "" */}}
{{- define "streamsuite.usesKafka" -}}
{{- $c := get (fromYaml (include "streamsuite.components" .root)) .component }}
{{- if and $c.kafka (or (ne .component "web") .root.Values.web.submitEnabled) }}true{{ end }}
{{- end }}

{{- define "streamsuite.image" -}}
{{- $root := .root }}
{{- $image := .image }}
{{- $tag := $image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion }}
{{- if $root.Values.image.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $root.Values.image.registry) $image.repository $tag }}
{{- else }}
{{- printf "%s:%s" $image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret with generated values (passwords, cursor key). */}}
{{/* ---- Authentication (README "Authentication") ---- */}}

{{/* "true" when the chart generates the HS256 secret (jwt mode, no issuer, no Secret given). */}}
{{- define "streamsuite.auth.generated" -}}
{{- $a := .Values.auth }}
{{- if and (ne $a.mode "none") (not $a.issuer) (not $a.jwksUrl) (not $a.jwt.existingSecret) }}true{{ end }}
{{- end }}

{{/* Secret and key of the HS256 secret (YAML), or nothing (issuer keys, or auth off). */}}
{{- define "streamsuite.auth.secretRef" -}}
{{- $a := .Values.auth }}
{{- if and (ne $a.mode "none") $a.jwt.existingSecret }}
name: {{ $a.jwt.existingSecret }}
key: {{ $a.jwt.secretKey }}
{{- else if include "streamsuite.auth.generated" . }}
name: {{ include "streamsuite.secretName" . }}
key: jwt-secret
{{- end }}
{{- end }}

{{/* The AUTH section of the query API's and the web UI's config file. */}}
{{- define "streamsuite.auth.config" -}}
{{- $a := .Values.auth }}
{{- $cfg := dict "MODE" $a.mode "AUDIENCE" $a.audience "READ_SCOPE" $a.scopes.read "SUBMIT_SCOPE" $a.scopes.submit }}
{{- if include "streamsuite.auth.secretRef" . }}
{{- $_ := set $cfg "JWT_SECRET_FILE" "/etc/streamsuite/secrets/jwt-secret" }}
{{- end }}
{{- if $a.issuer }}{{ $_ := set $cfg "ISSUER" $a.issuer }}{{ end }}
{{- if $a.jwksUrl }}{{ $_ := set $cfg "JWKS_URL" $a.jwksUrl }}{{ end }}
{{- if eq $a.mode "proxy" }}
{{- $_ := set $cfg "PROXY_CIDRS" (join "," $a.proxy.cidrs) }}
{{- $_ := set $cfg "PROXY_READ_GROUPS" (join "," $a.proxy.readGroups) }}
{{- $_ := set $cfg "PROXY_SUBMIT_GROUPS" (join "," $a.proxy.submitGroups) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{- define "streamsuite.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-generated" (include "streamsuite.fullname" .)) }}
{{- end }}

{{/* ---- Kafka ---- */}}

{{- define "streamsuite.kafka.cluster" -}}
{{- include "streamsuite.fullname" . }}
{{- end }}

{{/*
The KafkaNodePool. Strimzi names its pods <cluster>-<pool>-<node id>, so the pool's name is
short (kafka.nodePoolName). A release installed by chart 0.1.0 keeps its <fullname>-dual-role
pool: renaming a pool would replace every Kafka node.
*/}}
{{- define "streamsuite.kafka.nodePool" -}}
{{- $legacy := printf "%s-dual-role" (include "streamsuite.fullname" .) }}
{{- if lookup "kafka.strimzi.io/v1" "KafkaNodePool" .Release.Namespace $legacy }}
{{- $legacy }}
{{- else }}
{{- $name := .Values.kafka.nodePoolName }}
{{- $cluster := include "streamsuite.kafka.cluster" . }}
{{- $taken := dig "metadata" "labels" "strimzi.io/cluster" $cluster ((lookup "kafka.strimzi.io/v1" "KafkaNodePool" .Release.Namespace $name) | default dict) }}
{{- if ne $taken $cluster }}
{{- fail (printf "kafka.nodePoolName: the KafkaNodePool %q in namespace %s belongs to the Kafka cluster %q; choose another name for this release" $name .Release.Namespace $taken) }}
{{- end }}
{{- $name }}
{{- end }}
{{- end }}

{{- define "streamsuite.kafka.bootstrapServers" -}}
{{- if .Values.kafka.create }}
{{- printf "%s-kafka-bootstrap:%d" (include "streamsuite.kafka.cluster" .) (ternary 9093 9092 .Values.kafka.auth.enabled) }}
{{- else }}
{{- required "kafka.external.bootstrapServers is required when kafka.create is false" .Values.kafka.external.bootstrapServers }}
{{- end }}
{{- end }}

{{- define "streamsuite.kafka.securityProtocol" -}}
{{- if .Values.kafka.create }}
{{- ternary "SASL_SSL" "PLAINTEXT" .Values.kafka.auth.enabled }}
{{- else }}
{{- .Values.kafka.external.securityProtocol }}
{{- end }}
{{- end }}

{{/* The KafkaUser (and its Secret) of a component: (dict "root" $ "component" "web") */}}
{{- define "streamsuite.kafka.user" -}}
{{- printf "%s-%s" (include "streamsuite.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* ---- PostgreSQL ---- */}}

{{- define "streamsuite.postgresql.host" -}}
{{- if .Values.postgresql.create }}
{{- printf "%s-postgresql" (include "streamsuite.fullname" .) }}
{{- else }}
{{- required "postgresql.external.host is required when postgresql.create is false" .Values.postgresql.external.host }}
{{- end }}
{{- end }}

{{- define "streamsuite.postgresql.port" -}}
{{- ternary 5432 .Values.postgresql.external.port .Values.postgresql.create }}
{{- end }}

{{/* Secret and key of a role's password: (dict "root" $ "role" "writer"|"reader") */}}
{{- define "streamsuite.postgresql.passwordRef" -}}
{{- $pg := .root.Values.postgresql }}
{{- if $pg.create }}
name: {{ include "streamsuite.secretName" .root }}
key: {{ .role }}-password
{{- else }}
{{- $ref := get $pg.external (printf "%sPasswordSecret" .role) }}
name: {{ required (printf "postgresql.external.%sPasswordSecret.name is required when postgresql.create is false" .role) $ref.name }}
key: {{ $ref.key }}
{{- end }}
{{- end }}

{{- define "streamsuite.postgresql.user" -}}
{{- ternary .root.Values.postgresql.writerUser .root.Values.postgresql.readerUser (eq .role "writer") }}
{{- end }}

{{/* ---- Monitoring ---- */}}

{{/* "true" when ServiceMonitors and PodMonitors are to be created. */}}
{{- define "streamsuite.monitoring.enabled" -}}
{{- $want := .Values.monitoring.enabled }}
{{- if or (eq (toString $want) "true") (and (eq (toString $want) "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}true{{ end }}
{{- end }}
