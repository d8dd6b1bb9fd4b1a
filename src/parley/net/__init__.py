"""Outbound network calls to user-given addresses, under one address policy."""
