"""The FastAGI server over real TCP sockets; the test plays Asterisk's side."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence

import pytest

from ivr.errors import CallHungUp
from ivr.fastagi import AgiChannel, FastAgiServer, Recorded, RecordEnd
from ivr.service import unavailable

CALLER = "+6281234567890"
ENV = (
    "agi_request: agi://127.0.0.1/ivr\n"
    "agi_network_script: ivr\n"
    "agi_uniqueid: 1700000000.7\n"
    f"agi_callerid: {CALLER}\n"
    "agi_channel: PJSIP/gsm-00000007\n\n"
)
Script = Sequence[tuple[str, str | None]]


async def play_asterisk(port: int, script: Script, env: str = ENV) -> list[str]:
    """Send ``env``; for each (expected command prefix, reply) read and answer.

    A reply of None closes the socket instead (the caller vanished). Returns the
    commands received.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env.encode())
    await writer.drain()
    received = []
    try:
        for expected, reply in script:
            line = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
            received.append(line)
            assert line.startswith(expected), (line, expected)
            if reply is None:
                break
            writer.write(reply.encode() + b"\n")
            await writer.drain()
        else:
            # The server must close its side when the call is over.
            assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()
        await writer.wait_closed()
    return received


async def with_server(
    handler: Callable[[AgiChannel], Awaitable[None]],
    body: Callable[[FastAgiServer], Awaitable[None]],
    timeout_s: float = 5.0,
) -> FastAgiServer:
    sockets_before = _open_sockets()
    server = FastAgiServer(handler, "127.0.0.1", 0, timeout_s)
    await server.start()
    serving = asyncio.create_task(server.serve_forever())
    try:
        await body(server)
        for _ in range(100):
            if server.active_calls == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        await server.close()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    assert server.active_calls == 0
    # Every call's task has ended and every socket is closed, the listener's included.
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert left == [], left
    assert _open_sockets() == sockets_before
    return server


def _open_sockets() -> int:
    """Sockets this process holds open (the kernel's view, not the server's counters)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue  # the fd listing's own
    return count


def run(coro: Awaitable[FastAgiServer]) -> FastAgiServer:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_interim_flow_apologises_and_hangs_up() -> None:
    async def body(server: FastAgiServer) -> None:
        received = await play_asterisk(
            server.port,
            [
                ("ANSWER", "200 result=0"),
                ("STREAM FILE please-try-call-later", "200 result=0 endpos=20000"),
                ("HANGUP", "200 result=1"),
            ],
        )
        assert len(received) == 3

    server = run(with_server(unavailable, body))
    assert (server.completed_calls, server.protocol_errors) == (1, 0)


def test_typed_commands_through_the_socket() -> None:
    results: dict[str, object] = {}

    async def flow(channel: AgiChannel) -> None:
        results["env"] = channel.env["channel"]
        results["digit"] = await channel.stream_file("welcome", "123")
        results["data"] = await channel.get_data("village-code", 3000, 4)
        results["nothing"] = await channel.get_data("village-code", 3000, 4)
        results["wait"] = await channel.wait_for_digit(2000)
        results["no wait"] = await channel.wait_for_digit(2000)
        await channel.set_variable("DESBUMI_CASE", "DSB-0001")
        results["var"] = await channel.get_variable("DESBUMI_CASE")
        results["unset"] = await channel.get_variable("NOPE")
        results["rec"] = await channel.record_file(
            "/var/rec/1", "wav", escape_digits="#", max_ms=120000, silence_s=5
        )
        results["exec"] = await channel.exec("Playback", "silence/1")

    async def body(server: FastAgiServer) -> None:
        await play_asterisk(
            server.port,
            [
                ('STREAM FILE welcome "123"', "200 result=50 endpos=400"),
                ("GET DATA village-code 3000 4", "200 result=0042 (timeout)"),
                ("GET DATA", "200 result= (timeout)"),
                ("WAIT FOR DIGIT 2000", "200 result=57"),
                ("WAIT FOR DIGIT", "200 result=0"),
                ('SET VARIABLE "DESBUMI_CASE" "DSB-0001"', "200 result=1"),
                ('GET VARIABLE "DESBUMI_CASE"', "200 result=1 (DSB-0001)"),
                ('GET VARIABLE "NOPE"', "200 result=0"),
                (
                    'RECORD FILE /var/rec/1 wav "#" 120000 BEEP s=5',
                    "200 result=35 (dtmf) endpos=64000",
                ),
                ('EXEC Playback "silence/1"', "200 result=0"),
            ],
        )

    run(with_server(flow, body))
    assert results == {
        "env": "PJSIP/gsm-00000007",
        "digit": "2",
        "data": "0042",
        "nothing": "",
        "wait": "9",
        "no wait": "",
        "var": "DSB-0001",
        "unset": None,
        "rec": Recorded(end=RecordEnd.dtmf, digit="#", endpos=64000),
        "exec": 0,
    }


def test_hangup_during_recording_keeps_the_partial_result() -> None:
    seen: list[Recorded] = []

    async def flow(channel: AgiChannel) -> None:
        seen.append(await channel.record_file("r", "wav", escape_digits="#", max_ms=60000))
        await channel.stream_file("thanks")  # the channel is gone: this raises CallHungUp

    async def body(server: FastAgiServer) -> None:
        await play_asterisk(
            server.port,
            [
                ("RECORD FILE r wav", "200 result=-1 (hangup) endpos=24000"),
                ("STREAM FILE thanks", "HANGUP"),
            ],
        )

    server = run(with_server(flow, body))
    assert seen == [Recorded(end=RecordEnd.hangup, digit="", endpos=24000)]
    assert server.protocol_errors == 0


@pytest.mark.parametrize(
    "script",
    [
        [("STREAM FILE menu", "HANGUP")],
        # STREAM FILE's -1 is ambiguous; the server asks, and the channel is gone.
        [("STREAM FILE menu", "200 result=-1 endpos=16000"), ("CHANNEL STATUS", "HANGUP")],
        [("STREAM FILE menu", "200 result=-1 endpos=0"), ("CHANNEL STATUS", "511 Dead")],
        [("STREAM FILE menu", "511 Command Not Permitted on a dead channel")],
        [("STREAM FILE menu", None)],
    ],
)
def test_hangup_in_the_middle_ends_the_call_cleanly(script: Script) -> None:
    reached: list[str] = []

    async def flow(channel: AgiChannel) -> None:
        try:
            await channel.stream_file("menu", "1234")
            reached.append("after first prompt")
        except CallHungUp:
            reached.append("hung up")
            raise

    async def body(server: FastAgiServer) -> None:
        await play_asterisk(server.port, script)

    server = run(with_server(flow, body))
    assert reached == ["hung up"]
    assert (server.completed_calls, server.protocol_errors) == (1, 0)


def test_missing_prompt_is_not_a_hangup() -> None:
    """Measured on Asterisk 22: a missing file gives result=-1 on a live channel."""

    async def body(server: FastAgiServer) -> None:
        await play_asterisk(
            server.port,
            [
                ("ANSWER", "200 result=0"),
                ("STREAM FILE please-try-call-later", "200 result=-1 endpos=0"),
                ("CHANNEL STATUS", "200 result=6"),
                ("HANGUP", "200 result=1"),
            ],
        )

    server = run(with_server(unavailable, body))
    assert (server.completed_calls, server.protocol_errors) == (1, 0)


def test_usage_reply_is_consumed_whole_and_reported() -> None:
    outcome: list[str] = []

    async def flow(channel: AgiChannel) -> None:
        try:
            await channel.command("STREAM FILE")
        except Exception as exc:
            outcome.append(type(exc).__name__)
        outcome.append(str(await channel.wait_for_digit(10)))

    async def body(server: FastAgiServer) -> None:
        await play_asterisk(
            server.port,
            [
                (
                    "STREAM FILE",
                    "520-Invalid command syntax.  Proper usage follows:\n"
                    "Usage: STREAM FILE <filename> <escape_digits>\n"
                    "520 End of proper usage.",
                ),
                ("WAIT FOR DIGIT", "200 result=49"),
            ],
        )

    run(with_server(flow, body))
    assert outcome == ["AgiProtocolError", "1"]


@pytest.mark.parametrize(
    "env", ["garbage without colon\n\n", "agi_request: x\n" + "y" * 9000 + "\n\n"]
)
def test_garbage_environment_is_counted(env: str) -> None:
    async def flow(channel: AgiChannel) -> None:
        raise AssertionError("the handler must not run")

    async def body(server: FastAgiServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env.encode())
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()

    assert run(with_server(flow, body)).protocol_errors == 1


def test_garbage_reply_is_counted() -> None:
    async def body(server: FastAgiServer) -> None:
        await play_asterisk(server.port, [("ANSWER", "this is not AGI")])

    server = run(with_server(unavailable, body))
    assert server.protocol_errors == 1


def test_silent_peer_is_dropped_after_the_timeout() -> None:
    async def body(server: FastAgiServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"agi_request: agi://x/ivr\n")  # and then nothing
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()

    server = run(with_server(unavailable, body, timeout_s=0.3))
    assert server.protocol_errors == 1


def test_unanswered_command_times_out() -> None:
    async def body(server: FastAgiServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ENV.encode())
        await writer.drain()
        assert (await reader.readline()).strip() == b"ANSWER"
        assert await asyncio.wait_for(reader.read(), 5) == b"", "server gives up and closes"
        writer.close()
        await writer.wait_closed()

    server = run(with_server(unavailable, body, timeout_s=0.3))
    assert server.protocol_errors == 1


def test_fifty_concurrent_calls() -> None:
    script: Script = [
        ("ANSWER", "200 result=0"),
        ("STREAM FILE please-try-call-later", "200 result=0 endpos=1"),
        ("HANGUP", "200 result=1"),
    ]

    async def body(server: FastAgiServer) -> None:
        calls = [
            play_asterisk(server.port, script, ENV.replace("1700000000.7", f"17.{n}"))
            for n in range(50)
        ]
        await asyncio.gather(*calls)

    server = run(with_server(unavailable, body))
    assert (server.completed_calls, server.protocol_errors) == (50, 0)


def test_close_ends_calls_in_progress() -> None:
    started = asyncio.Event()

    async def flow(channel: AgiChannel) -> None:
        started.set()
        await channel.wait_for_digit(60000)

    async def body(server: FastAgiServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ENV.encode())
        await writer.drain()
        await asyncio.wait_for(started.wait(), 5)
        assert (await reader.readline()).startswith(b"WAIT FOR DIGIT 60000")
        assert server.active_calls == 1
        await server.close()
        assert server.active_calls == 0
        assert await asyncio.wait_for(reader.read(), 5) == b"", "the call's socket is closed"
        writer.close()
        await writer.wait_closed()

    run(with_server(flow, body))


def test_caller_number_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def flow(channel: AgiChannel) -> None:
        await channel.answer()
        raise RuntimeError("handler bug")

    async def body(server: FastAgiServer) -> None:
        await play_asterisk(server.port, [("ANSWER", "200 result=0")])
        await play_asterisk(server.port, [], env=f"agi_callerid {CALLER}\n\n")

    with caplog.at_level(logging.DEBUG):
        run(with_server(flow, body))
    messages = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "call_id=1700000000.7" in messages
    assert "81234567890" not in messages
