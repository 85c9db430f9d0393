"""Ingestor: consumes the records topic into PostgreSQL with an exactly-once effect."""
