"""Hotline use cases. Until the voice menu lands, calls hear an apology and are hung up."""

from __future__ import annotations

import logging

from ivr.errors import PromptUnavailable
from ivr.fastagi import AgiChannel

logger = logging.getLogger(__name__)

# Asterisk core sound: "Please try your call again later." Never end a call in silence.
UNAVAILABLE_PROMPT = "please-try-call-later"


async def interim_call_flow(channel: AgiChannel) -> None:
    """Answer, apologise, hang up: the placeholder until the menu engine exists."""
    await channel.answer()
    try:
        await channel.stream_file(UNAVAILABLE_PROMPT)
    except PromptUnavailable:
        logger.warning("call_id=%s system prompt %s missing", channel.call_id, UNAVAILABLE_PROMPT)
    await channel.hangup()
    logger.info("call_id=%s interim flow finished", channel.call_id)
