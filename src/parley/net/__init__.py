"""Network helpers shared by the server: safe outbound requests."""
