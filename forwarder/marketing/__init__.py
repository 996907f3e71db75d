"""TikTok's Marketing API, as audiences and reports call it: the client, its errors, and the credential."""
