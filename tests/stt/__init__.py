"""Speech-to-text providers: pocketsphinx workers, OpenAI-compatible, faster-whisper, choice."""
