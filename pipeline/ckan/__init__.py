"""CKAN: the client (retries, timeouts, the token's origin), GDC metadata, publishing and pulling."""
