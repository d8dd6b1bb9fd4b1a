"""The Python SDK of Parley: REST and streaming, blocking (`Parley`) and asyncio
(`AsyncParley`), with the same surface. See README.md in this directory.

    from parley.client import Parley

    client = Parley()  # PARLEY_BASE_URL, PARLEY_API_KEY
    conv = client.conversations.create(voice_id="piper-en-us-joe",
                                       system_prompt="You are a friendly travel assistant.")
    with client.conversations.stream(conv.session_id) as stream:
        stream.on("transcript", lambda e: e.is_final and print(f"{e.role}: {e.text}"))
        stream.inject_user_message("What is the weather like in Paris?")
        stream.wait_for("turn_end", role="assistant")
"""

from parley.client.async_client import AsyncParley
from parley.client.client import Parley
from parley.client.errors import ParleyError
from parley.client.events import (
    AgentMessageInjected,
    Audio,
    Close,
    Disconnected,
    ErrorEvent,
    Event,
    Interrupted,
    PromptUpdated,
    Reconnected,
    ReplyPaused,
    ReplyResumed,
    SessionEnded,
    SessionStarted,
    ToolCall,
    Transcript,
    TurnEnd,
    TurnStart,
    VoiceUpdated,
)
from parley.client.listings import (
    ConversationSummary,
    Delivery,
    DeliveryAttempt,
    Page,
    Webhook,
    WebhookDeleted,
)
from parley.client.models import (
    Agent,
    AgentDeleted,
    AgentPage,
    AgentSession,
    Conversation,
    ConversationEnded,
    StreamToken,
    Tool,
    Turn,
    Voice,
)
from parley.client.stream import AsyncStream, StreamOptions
from parley.client.sync_stream import Stream

__all__ = [
    "ConversationSummary",
    "Delivery",
    "DeliveryAttempt",
    "Page",
    "Webhook",
    "WebhookDeleted",
    "Agent",
    "AgentDeleted",
    "AgentMessageInjected",
    "AgentPage",
    "AgentSession",
    "AsyncParley",
    "AsyncStream",
    "Audio",
    "Close",
    "Conversation",
    "ConversationEnded",
    "Disconnected",
    "ErrorEvent",
    "Event",
    "Interrupted",
    "ReplyPaused",
    "ReplyResumed",
    "Parley",
    "ParleyError",
    "PromptUpdated",
    "Reconnected",
    "SessionEnded",
    "SessionStarted",
    "Stream",
    "StreamOptions",
    "StreamToken",
    "Tool",
    "ToolCall",
    "Transcript",
    "Turn",
    "TurnEnd",
    "TurnStart",
    "Voice",
    "VoiceUpdated",
]
