"""Event webhooks: conversation events, signed and delivered to the operator's backend."""
