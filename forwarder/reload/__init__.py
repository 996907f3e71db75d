"""Reloads without a restart: read files until they settle (`files.py`), apply them (`apply.py`), reach every
worker (`peers.py`)."""
