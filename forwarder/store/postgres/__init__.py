"""The shared store for several replicas: PostgreSQL through an asyncpg pool (store.py), one module per concern."""

from .migrations import MIGRATIONS
from .store import PostgresStore

__all__ = ["MIGRATIONS", "PostgresStore"]
