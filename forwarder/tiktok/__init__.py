"""Everything TikTok-specific: event catalogue, request bodies, the client and a local emulator."""
