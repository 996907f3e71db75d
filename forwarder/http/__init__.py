"""Every HTTP endpoint, one module per face; `requests.py` reads bodies and admits callers for the ingest ones."""
