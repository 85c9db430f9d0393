{{/*
Replication settings, settled once at install and kept on every upgrade.

On install they follow kafka.replicas: replication factor min(3, replicas), min.insync.replicas
one less (at least 1). On upgrade they are read back from the Kafka and KafkaTopic resources
the install created (lookup), so scaling kafka.replicas from 1 to 3 does not raise
min.insync.replicas to 2 over topics that still have one replica (every produce would fail):
existing topics keep their replication factor, and the Topic Operator cannot change it anyway
(that needs Cruise Control). An explicit kafka.config or kafka.topics.<id>.replicas still
applies, but the render fails on a combination that would stop producers or consumers.

Returns YAML: {config: {<broker key>: n, ...}, topics: {<id>: {replicas: n, minIsr: n}}}.
(`helm template` has no cluster to look up: it always renders the install's values.)
*/}}
{{- define "streamsuite.kafka.replication" -}}
{{- $k := .Values.kafka }}
{{- $ns := .Release.Namespace }}
{{- $rf := min 3 $k.replicas | int }}
{{- $isr := max 1 (sub $rf 1) | int }}
{{- $config := dict
      "default.replication.factor" $rf
      "min.insync.replicas" $isr
      "offsets.topic.replication.factor" $rf
      "transaction.state.log.replication.factor" $rf
      "transaction.state.log.min.isr" $isr }}
{{- $installed := (lookup "kafka.strimzi.io/v1" "Kafka" $ns (include "streamsuite.kafka.cluster" .)) | default dict }}
{{- $installedConfig := dig "spec" "kafka" "config" dict $installed }}
{{- range $key := keys $config | sortAlpha }}
{{- if hasKey $installedConfig $key }}
{{- $_ := set $config $key (get $installedConfig $key | int) }}
{{- end }}
{{- end }}
{{- /* Kafka creates __consumer_offsets and __transaction_state once, with the factors of then. */}}
{{- $internal := dict
      "offsets.topic.replication.factor" (get $config "offsets.topic.replication.factor")
      "transaction.state.log.replication.factor" (get $config "transaction.state.log.replication.factor") }}
{{- range $key := keys $config | sortAlpha }}
{{- if hasKey $k.config $key }}
{{- $_ := set $config $key (get $k.config $key | int) }}
{{- end }}
{{- end }}
{{- $topics := dict }}
{{- range $id, $topic := $k.topics }}
{{- $name := printf "%s-%s" (include "streamsuite.fullname" $) $id }}
{{- $existing := (lookup "kafka.strimzi.io/v1" "KafkaTopic" $ns $name) | default dict }}
{{- $replicas := $topic.replicas | default (get $config "default.replication.factor") | int }}
{{- $minIsr := max 1 (sub $replicas 1) | int }}
{{- if $existing }}
{{- $had := dig "spec" "replicas" 0 $existing | int }}
{{- if and $topic.replicas $had (ne $had $replicas) }}
{{- fail (printf "kafka.topics.%s.replicas: the topic %q has %d replicas and cannot be changed to %d by the chart (Strimzi's Topic Operator changes a replication factor only through Cruise Control); leave it at 0 or %d" $id $topic.name $had $replicas $had) }}
{{- end }}
{{- if $had }}
{{- $replicas = $had }}
{{- $minIsr = dig "spec" "config" "min.insync.replicas" $minIsr $existing | int }}
{{- end }}
{{- end }}
{{- $_ := set $topics $id (dict "replicas" $replicas "minIsr" $minIsr) }}
{{- end }}
{{- include "streamsuite.kafka.checkReplication" (dict "nodes" ($k.replicas | int) "config" $config "internal" $internal "topics" $topics) }}
{{- toYaml (dict "config" $config "topics" $topics) }}
{{- end }}

{{/* Fails on replication settings that would stop producers or consumers. */}}
{{- define "streamsuite.kafka.checkReplication" -}}
{{- $nodes := .nodes }}
{{- $c := .config }}
{{- $factors := dict
      "default.replication.factor" (get $c "default.replication.factor")
      "offsets.topic.replication.factor" (get $c "offsets.topic.replication.factor")
      "transaction.state.log.replication.factor" (get $c "transaction.state.log.replication.factor") }}
{{- range $id, $t := .topics }}
{{- $_ := set $factors (printf "the %s topic's replicas" $id) $t.replicas }}
{{- if gt $t.minIsr $t.replicas }}
{{- fail (printf "the %s topic would need %d in-sync replicas but has %d replicas: every produce would fail" $id $t.minIsr $t.replicas) }}
{{- end }}
{{- end }}
{{- range $what := keys $factors | sortAlpha }}
{{- $factor := get $factors $what }}
{{- if gt $factor $nodes }}
{{- fail (printf "kafka.replicas is %d but %s is %d: Kafka needs at least as many brokers as replicas (scale down only after moving the replicas away)" $nodes $what $factor) }}
{{- end }}
{{- end }}
{{- range $check := list
      (list "min.insync.replicas" "offsets.topic.replication.factor" "__consumer_offsets" "consumers could no longer commit offsets")
      (list "transaction.state.log.min.isr" "transaction.state.log.replication.factor" "__transaction_state" "every transaction would fail") }}
{{- $isr := get $c (index $check 0) }}
{{- $rf := min (get $c (index $check 1)) (get $.internal (index $check 1)) }}
{{- if gt $isr $rf }}
{{- fail (printf "kafka.config: %s %d is above the %d replicas of Kafka's %s topic (%s when it was created): %s" (index $check 0) $isr $rf (index $check 2) (index $check 1) (index $check 3)) }}
{{- end }}
{{- end }}
{{- end }}
