{{/*
A service's config file (the `--cfg` YAML, same keys as everywhere else): what the chart knows
(addresses, topics, roles, where the mounted secrets are), with the service's `config` value
merged over it. Secrets are files under /etc/streamsuite/secrets, never values here.
(dict "root" $ "component" "web")
*/}}
{{- define "streamsuite.app.config" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $meta := get (fromYaml (include "streamsuite.components" $root)) .component }}
{{- $values := get $v $meta.key }}
{{- $cfg := dict
      "LOG" (dict "LEVEL" $v.config.logLevel "FORMAT" "json" "ACCESS" $v.config.accessLog)
      "HTTP" (dict "PORT" ($values.service.port | int)) }}
{{- if include "streamsuite.usesKafka" . }}
{{- $protocol := include "streamsuite.kafka.securityProtocol" $root }}
{{- $kafka := dict
      "BOOTSTRAP_SERVERS" (include "streamsuite.kafka.bootstrapServers" $root)
      "TOPIC" $v.kafka.topics.records.name
      "DLQ_TOPIC" $v.kafka.topics.dlq.name
      "STATUS_TOPIC" $v.kafka.topics.status.name
      "SECURITY_PROTOCOL" $protocol
      "PRODUCER_CLIENT_ID" (printf "streamsuite-%s" .component)
      "CONSUMER_CLIENT_ID" (printf "streamsuite-%s" .component)
      "CONNECT_TIMEOUT_S" $v.config.connectTimeoutSeconds }}
{{- if hasPrefix "SASL_" $protocol }}
{{- $_ := set $kafka "SASL_MECHANISM" (ternary "SCRAM-SHA-512" $v.kafka.external.saslMechanism $v.kafka.create) }}
{{- $_ := set $kafka "SASL_USERNAME" (include "streamsuite.kafka.username" .) }}
{{- $_ := set $kafka "SASL_PASSWORD_FILE" "/etc/streamsuite/secrets/kafka-password" }}
{{- end }}
{{- if include "streamsuite.kafka.caSecret" $root }}
{{- $_ := set $kafka "SSL_CAFILE" "/etc/streamsuite/secrets/kafka-ca.crt" }}
{{- end }}
{{- $_ := set $cfg "KAFKA" $kafka }}
{{- end }}
{{- if $meta.database }}
{{- $_ := set $cfg "DATABASE" (dict
      "HOST" (include "streamsuite.postgresql.host" $root)
      "PORT" (include "streamsuite.postgresql.port" $root | int)
      "DBNAME" $v.postgresql.database
      "DBUSER" (include "streamsuite.postgresql.user" (dict "root" $root "role" $meta.database))
      "USER_PWD_FILE" "/etc/streamsuite/secrets/db-password"
      "SCHEMA" $v.postgresql.schema
      "SSLMODE" $v.postgresql.sslmode
      "CONNECT_TIMEOUT_S" $v.config.connectTimeoutSeconds) }}
{{- end }}
{{- if eq .component "publisher" }}
{{- /* One transactional id per release (inside the KafkaUser's `streamsuite-publisher-` prefix;
the schema keeps publisher.replicas at 1): a replacement pod fences the transaction its
predecessor left open at once, instead of read_committed consumers waiting for it to time out. */}}
{{- $publisher := dict
      "INBOX" "/var/lib/streamsuite/inbox"
      "TRANSACTIONAL_ID" (printf "streamsuite-publisher-%s" (include "streamsuite.fullname" $root)) }}
{{- $_ := set $cfg "PUBLISHER" $publisher }}
{{- else if eq .component "ingestor" }}
{{- $ingestor := dict "GROUP_ID" $v.ingestor.groupId "READER_ROLE" $v.postgresql.readerUser }}
{{- if $v.ingestor.routes }}
{{- $_ := set $ingestor "ROUTES_FILE" "/etc/streamsuite/config/routes.yaml" }}
{{- end }}
{{- $_ := set $cfg "INGESTOR" $ingestor }}
{{- else if eq .component "query-api" }}
{{- $queryApi := dict "CURSOR_SECRET_FILE" "/etc/streamsuite/secrets/cursor-secret" }}
{{- if $v.queryApi.corsOrigins }}
{{- $_ := set $queryApi "CORS_ORIGINS" (join "," $v.queryApi.corsOrigins) }}
{{- end }}
{{- $workers := int $v.queryApi.workers }}
{{- if gt $workers 1 }}
{{- with ($v.queryApi.resources.limits | default dict).cpu }}
{{- /* A CPU limit of N cores (CFS quota) runs N workers at most: more only throttle each other. */}}
{{- $cpu := toString . }}
{{- $cores := ceil (hasSuffix "m" $cpu | ternary (divf (trimSuffix "m" $cpu) 1000) (float64 $cpu)) }}
{{- if gt (float64 $workers) $cores }}
{{- fail (printf "queryApi.workers is %d but queryApi.resources.limits.cpu (%s) has room for %d: a worker uses about one core under load" $workers $cpu (int $cores)) }}
{{- end }}
{{- end }}
{{- $_ := set $queryApi "WORKERS" $workers }}
{{- end }}
{{- $_ := set $cfg "QUERY_API" $queryApi }}
{{- else if eq .component "web" }}
{{- $web := dict "CURSOR_SECRET_FILE" "/etc/streamsuite/secrets/cursor-secret" "SUBMIT_ENABLED" $v.web.submitEnabled }}
{{- if $v.web.ingress.enabled }}
{{- /* Submit takes browser posts from the Ingress URL, and from a port-forward on the same port. */}}
{{- $port := $values.service.port | int }}
{{- $scheme := ternary "https" "http" (not (empty $v.web.ingress.tlsSecretName)) }}
{{- $_ := set $web "PUBLIC_ORIGINS" (printf "%s://%s,http://127.0.0.1:%d,http://localhost:%d" $scheme $v.web.ingress.host $port $port) }}
{{- end }}
{{- $_ := set $cfg "WEB" $web }}
{{- end }}
{{- if $meta.cursor }}
{{- $_ := set $cfg "AUTH" (fromYaml (include "streamsuite.auth.config" $root)) }}
{{- end }}
{{- toYaml (mergeOverwrite $cfg (deepCopy $values.config)) }}
{{- end }}

{{/* The SASL user of a component: its KafkaUser, or the external one. */}}
{{- define "streamsuite.kafka.username" -}}
{{- if .root.Values.kafka.create }}
{{- include "streamsuite.kafka.user" . }}
{{- else }}
{{- $user := get .root.Values.kafka.external.users .component }}
{{- required (printf "kafka.external.users.%s.username is required with a SASL_* securityProtocol" .component) $user.username }}
{{- end }}
{{- end }}

{{/* Secret and key of a component's Kafka password (YAML), or nothing without SASL. */}}
{{- define "streamsuite.kafka.passwordRef" -}}
{{- if hasPrefix "SASL_" (include "streamsuite.kafka.securityProtocol" .root) }}
{{- if .root.Values.kafka.create }}
name: {{ include "streamsuite.kafka.user" . }}
key: password
{{- else }}
{{- $ref := (get .root.Values.kafka.external.users .component).passwordSecret }}
name: {{ required (printf "kafka.external.users.%s.passwordSecret.name is required with a SASL_* securityProtocol" .component) $ref.name }}
key: {{ $ref.key }}
{{- end }}
{{- end }}
{{- end }}

{{/* Secret and key of the brokers' CA (YAML), or nothing. */}}
{{- define "streamsuite.kafka.caSecret" -}}
{{- if .Values.kafka.create }}
{{- if .Values.kafka.auth.enabled }}
name: {{ include "streamsuite.kafka.cluster" . }}-cluster-ca-cert
key: ca.crt
{{- end }}
{{- else if .Values.kafka.external.caSecret.name }}
name: {{ .Values.kafka.external.caSecret.name }}
key: {{ .Values.kafka.external.caSecret.key }}
{{- end }}
{{- end }}
