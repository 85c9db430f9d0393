"""The local streamsuite stack: a real Apache Kafka broker, a real PostgreSQL server and the
services, as processes on this machine, with all state under ``var/``."""
