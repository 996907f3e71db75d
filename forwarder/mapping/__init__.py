"""Mapping tables as data, and planning: an inbound event to the outbox items of every destination it goes to."""
