"""Query API: the read-only REST service over the stored documents."""
