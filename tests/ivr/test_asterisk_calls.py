"""Calls through a real Asterisk into the FastAGI server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ivr.errors import PromptUnavailable
from ivr.fastagi import AgiChannel, FastAgiServer
from ivr.service import unavailable
from tests.ivr.conftest import Asterisk

pytestmark = pytest.mark.slow


async def _call(asterisk: Asterisk, flow: Callable[[AgiChannel], Awaitable[None]]) -> FastAgiServer:
    server = FastAgiServer(flow, "127.0.0.1", asterisk.agi_port, 10)
    await server.start()
    serving = asyncio.create_task(server.serve_forever())
    try:
        await asyncio.to_thread(asterisk.originate_caller)
        for _ in range(200):
            if server.completed_calls:
                break
            await asyncio.sleep(0.05)
    finally:
        await server.close()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    assert server.completed_calls == 1, "Asterisk never reached the FastAGI server"
    return server


def test_real_call_runs_the_unavailable_flow(asterisk: Asterisk) -> None:
    seen: list[str] = []

    async def flow(channel: AgiChannel) -> None:
        seen.append(channel.env["request"])
        await unavailable(channel)
        seen.append("done")

    server = asyncio.run(_call(asterisk, flow))
    assert seen == [f"agi://127.0.0.1:{asterisk.agi_port}/ivr", "done"]
    assert server.protocol_errors == 0


def test_real_commands_and_a_missing_prompt(asterisk: Asterisk) -> None:
    seen: dict[str, object] = {}

    async def flow(channel: AgiChannel) -> None:
        await channel.answer()
        seen["played"] = await channel.stream_file("silence/1", "12")
        try:
            await channel.stream_file("desbumi-no-such-prompt")
        except PromptUnavailable:
            seen["missing"] = "PromptUnavailable"
        seen["still up"] = await channel.exec("Playback", "silence/1")
        await channel.set_variable("DESBUMI_CASE", "DSB-0042")
        seen["variable"] = await channel.get_variable("DESBUMI_CASE")
        seen["unset"] = await channel.get_variable("DESBUMI_NOT_SET")
        seen["no digit"] = await channel.wait_for_digit(200)
        await channel.hangup()

    asyncio.run(_call(asterisk, flow))
    assert seen == {
        "played": "",
        "missing": "PromptUnavailable",
        "still up": 0,
        "variable": "DSB-0042",
        "unset": None,
        "no digit": "",
    }


def test_fallback_when_the_fastagi_server_is_down(asterisk: Asterisk) -> None:
    """No server on the AGI port: the dialplan goes on to its goodbye prompt."""
    events = asterisk.ami(
        {"Action": "Events", "EventMask": "call,user"},
        {
            "Action": "Originate",
            "Channel": "Local/s@caller",
            "Context": "ivr",
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
        },
        settle_s=2.0,
    )
    assert "UserEvent: DesbumiFallback" in events, events[-2000:]
    assert "Reason: FAILURE" in events
