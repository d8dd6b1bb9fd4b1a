"""Twilio's REST API, through the official `twilio` client: redirect a live call.

`transfer(call_sid, number)` updates the call's resource with TwiML `<Dial>`; Twilio
then ends the Media Stream (`stop`) and dials. The client is blocking (`requests`), so it
runs in a worker thread. `PARLEY_TWILIO_API_BASE_URL` points it elsewhere (tests use a
local double of the API).
"""

from __future__ import annotations

import asyncio
import logging

from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from parley.config import Settings

log = logging.getLogger("parley.telephony")


class TwilioRestError(RuntimeError):
    pass


class TwilioCalls:
    def __init__(self, account_sid: str, auth_token: str, base_url: str | None = None) -> None:
        self._client = Client(account_sid, auth_token)
        if base_url:
            self._client.api.base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioCalls | None:
        if not settings.twilio_account_sid or not settings.twilio_auth_token:
            return None
        return cls(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base_url
        )

    def _transfer(self, call_sid: str, number: str) -> None:
        twiml = VoiceResponse()
        twiml.dial(number)
        try:
            self._client.calls(call_sid).update(twiml=str(twiml))
        except TwilioException as exc:
            raise TwilioRestError(str(exc)) from exc
        except OSError as exc:  # requests' connection errors
            raise TwilioRestError(f"Twilio's API is unreachable: {exc}") from exc

    async def transfer(self, call_sid: str, number: str) -> None:
        await asyncio.to_thread(self._transfer, call_sid, number)
        log.info("call %s transferred to %s", call_sid, number)
