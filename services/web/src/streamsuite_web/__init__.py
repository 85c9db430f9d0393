"""Web UI: server-rendered pages over the stored documents, read as the read-only role."""

__version__ = "0.1.0"
