"""Forward in-app events to the TikTok Events API: map, deduplicate, keep durably, deliver."""

__version__ = "0.1.0"
