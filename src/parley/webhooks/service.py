"""Start-up of the webhook deliveries from the settings (`PARLEY_WEBHOOK_*`)."""

from __future__ import annotations

from parley.config import Settings
from parley.net.outbound import OutboundPolicy
from parley.store import Store
from parley.webhooks.delivery import DeliverySettings, WebhookService


async def start_webhooks(store: Store, settings: Settings) -> WebhookService:
    """Subscribe the delivery service to the store's events and start it."""
    service = WebhookService(
        store,
        OutboundPolicy.from_settings(settings),
        DeliverySettings(
            timeout_s=settings.webhook_timeout_s,
            max_attempts=max(1, settings.webhook_max_attempts),
            backoff_s=settings.webhook_backoff_s,
        ),
    )
    await service.start()
    return service
