"""`make bench`: streamsuite's ingestor side by side with Kafka Connect + Debezium's JDBC sink
and the raw ceilings, on the same broker, PostgreSQL and documents (issue 15).

One module per contender (ingestor, connect, raw), the documents, the database set-up, CPU from
/proc, and a pure results module that turns samples into the table and ratios.
"""
