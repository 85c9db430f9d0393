"""Query API: the read-only REST service over the stored documents.

One job per module: ``config`` (settings), ``db`` (the read-only connection pool), ``inputs``
(unknown parameters, JSON bodies), ``api`` (the /api/v1 routes), ``models`` (OpenAPI shapes),
``stream`` (Server-Sent Events over LISTEN/NOTIFY), ``errors`` (4xx/503 answers), ``metrics``
(Prometheus and the request log), ``app`` (the factory), ``cli`` (uvicorn, SIGTERM). Parsing,
SQL and rendering live in ``streamsuite_common.query``, shared with the web UI.
"""

__version__ = "0.1.0"
