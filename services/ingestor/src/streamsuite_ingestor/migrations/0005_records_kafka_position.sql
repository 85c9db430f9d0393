-- Kafka coordinates as a read filter (issue 18: the Records page's partition and offset
-- filters; `partition`, `offset_min`, `offset_max` on /api/v1/records). records_kafka_coordinates
-- covers only messages without a document identity (sha256 IS NULL), so it cannot serve them.
-- One plain btree of two fixed-size columns: far cheaper per insert than the GIN index.
CREATE INDEX records_kafka_position ON records (kafka_partition, kafka_offset);
