-- records: every document, losslessly, with its provenance; dead_letters: every refusal.
-- Runs with search_path set to the configured schema (DATABASE.SCHEMA), so names are unqualified.

CREATE TABLE records (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('relational', 'unstructured')),
    route           text,
    source          text,
    sha256          text,
    doc_index       bigint CHECK (doc_index >= 0),
    payload         jsonb NOT NULL,
    -- Typed projection of the default route (name + age); other routes have tables of their own.
    name            text CHECK (name <> ''),
    age             integer CHECK (age BETWEEN 0 AND 150),
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    produced_at     timestamptz,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    -- A document has its whole identity (source, sha256, doc index) or none of it.
    CONSTRAINT records_identity_whole CHECK (
        (source IS NULL) = (sha256 IS NULL) AND (sha256 IS NULL) = (doc_index IS NULL)
    ),
    CONSTRAINT records_relational_typed CHECK (
        kind = 'relational' OR (route IS NULL AND name IS NULL AND age IS NULL)
    )
);

-- Record identity: a re-sent document is stored once.
CREATE UNIQUE INDEX records_identity ON records (source, sha256, doc_index);
-- Messages of other producers carry no identity: their Kafka coordinates are one. Only for
-- those, so a re-created topic that starts again at offset 0 cannot shadow a new document.
CREATE UNIQUE INDEX records_kafka_coordinates ON records (kafka_topic, kafka_partition, kafka_offset)
    WHERE sha256 IS NULL;

CREATE INDEX records_payload ON records USING gin (payload jsonb_path_ops);
CREATE INDEX records_ingested ON records (ingested_at, id);
CREATE INDEX records_produced ON records (produced_at, id);
CREATE INDEX records_source ON records (source, doc_index);
CREATE INDEX records_kind ON records (kind, id);
CREATE INDEX records_name ON records (name) WHERE name IS NOT NULL;
CREATE INDEX records_age ON records (age) WHERE age IS NOT NULL;

CREATE TABLE dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin          text NOT NULL,
    stage           text NOT NULL,
    reason          text NOT NULL,
    detail          text NOT NULL,
    source          text,
    sha256          text,
    doc_index       bigint,
    line            bigint,
    raw             bytea NOT NULL,
    raw_truncated   boolean NOT NULL DEFAULT false,
    -- Where the refused message was, when it reached Kafka at all.
    kafka_topic     text,
    kafka_partition integer,
    kafka_offset    bigint,
    -- Where the dead-letter event was read.
    dlq_topic       text NOT NULL,
    dlq_partition   integer NOT NULL,
    dlq_offset      bigint NOT NULL,
    refused_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Each event is stored once however often it is read...
CREATE UNIQUE INDEX dead_letters_dlq_coordinates ON dead_letters (dlq_topic, dlq_partition, dlq_offset);
-- ...and each refusal once however often it is sent (a producer that crashed after sending
-- it sends it again): by document identity where there is one, else by the refused message.
CREATE UNIQUE INDEX dead_letters_document ON dead_letters (origin, stage, source, sha256, doc_index)
    NULLS NOT DISTINCT WHERE sha256 IS NOT NULL;
CREATE UNIQUE INDEX dead_letters_refused_message ON dead_letters (kafka_topic, kafka_partition, kafka_offset)
    WHERE sha256 IS NULL AND kafka_topic IS NOT NULL;

CREATE INDEX dead_letters_created ON dead_letters (created_at, id);
CREATE INDEX dead_letters_reason ON dead_letters (reason, id);
CREATE INDEX dead_letters_source ON dead_letters (source);
