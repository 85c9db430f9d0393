"""Publisher: watches an inbox directory and publishes every document to Kafka exactly once."""
