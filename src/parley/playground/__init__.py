"""The browser playground: static HTML/JS/CSS at `/playground` (see README.md here)."""
