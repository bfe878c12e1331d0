"""FastAGI: the TCP protocol Asterisk's ``AGI(agi://host:port/script)`` speaks.

The pure part parses the AGI environment and command responses; the I/O part is an
asyncio server with one task per call. A hangup (``HANGUP`` line, ``-1`` result or a
closed socket) raises :class:`CallHungUp`, which ends the call task cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ivr.errors import AgiProtocolError, CallHungUp

logger = logging.getLogger(__name__)

_RESULT = re.compile(r"^(?P<code>\d{3})[ -](?:result=(?P<result>-?\d+)\s*)?(?P<rest>.*)$")
_DATA = re.compile(r"^\((?P<data>[^)]*)\)\s*(?P<tail>.*)$")
MAX_ENV_LINES = 200
MAX_LINE = 8192


@dataclass(frozen=True)
class AgiResult:
    """One parsed AGI response: ``200 result=1 (timeout) endpos=8000``."""

    code: int
    result: int | None
    data: str
    endpos: int | None
    text: str

    @property
    def ok(self) -> bool:
        return self.code == 200 and self.result is not None and self.result >= 0


def parse_agi_environment(lines: list[str]) -> dict[str, str]:
    """``agi_channel: PJSIP/100-0001`` lines -> ``{"channel": "PJSIP/100-0001"}``."""
    env: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_"):
            raise AgiProtocolError(f"not an AGI environment line: {line[:60]!r}")
        env[key[4:].strip()] = value.strip()
    return env


def parse_agi_response(line: str) -> AgiResult:
    """Parse one response line (the first line of a multi-line 520 usage reply)."""
    line = line.strip()
    if line == "HANGUP":
        raise CallHungUp("HANGUP received")
    match = _RESULT.match(line)
    if match is None:
        raise AgiProtocolError(f"unparseable AGI response: {line[:80]!r}")
    rest = match["rest"]
    data = ""
    data_match = _DATA.match(rest)
    if data_match:
        data, rest = data_match["data"], data_match["tail"]
    endpos_match = re.search(r"endpos=(-?\d+)", rest)
    result = int(match["result"]) if match["result"] is not None else None
    return AgiResult(
        code=int(match["code"]),
        result=result,
        data=data,
        endpos=int(endpos_match[1]) if endpos_match else None,
        text=line,
    )


def quote(argument: str) -> str:
    """An AGI command argument, quoted; refuses characters that would split the command."""
    if any(c in argument for c in '"\n\r'):
        raise ValueError("AGI arguments may not contain quotes or newlines")
    return f'"{argument}"'


class AgiChannel:
    """One call's AGI session: send a command, get its parsed result."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: dict[str, str],
        timeout_s: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.env = env
        self.timeout_s = timeout_s

    @property
    def call_id(self) -> str:
        return self.env.get("uniqueid", "?")

    async def command(self, text: str, timeout_s: float | None = None) -> AgiResult:
        """Send one AGI command; raise CallHungUp when the channel is gone."""
        if self._writer.is_closing():
            raise CallHungUp("socket closed")
        self._writer.write(text.encode("utf-8") + b"\n")
        try:
            await self._writer.drain()
            line = await asyncio.wait_for(self._readline(), timeout_s or self.timeout_s)
            result = parse_agi_response(line)
            if result.code == 520 and line.startswith("520-"):
                # Multi-line usage text follows until "520 End of proper usage."
                while not (await self._readline()).startswith("520 "):
                    pass
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise CallHungUp(type(exc).__name__) from None
        if result.result == -1:
            raise CallHungUp(f"result=-1 for {text.split(' ', 1)[0]}")
        return result

    async def _readline(self) -> str:
        while True:
            raw = await self._reader.readline()
            if not raw:
                raise CallHungUp("socket closed")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            # After a hangup Asterisk may send "HANGUP" before the command's own reply.
            if line == "HANGUP":
                raise CallHungUp("HANGUP received")
            if line:
                return line

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def stream_file(self, name: str, escape_digits: str = "") -> str:
        """Play a prompt; returns the digit pressed to interrupt it, or ""."""
        result = await self.command(f"STREAM FILE {name} {quote(escape_digits)}")
        return chr(result.result) if result.result else ""

    async def hangup(self) -> None:
        try:
            await self.command("HANGUP")
        except CallHungUp:
            pass


CallHandler = Callable[[AgiChannel], Awaitable[None]]


async def read_environment(reader: asyncio.StreamReader) -> dict[str, str]:
    lines: list[str] = []
    while True:
        raw = await reader.readline()
        if not raw:
            raise CallHungUp("socket closed during the AGI environment")
        if len(raw) > MAX_LINE or len(lines) > MAX_ENV_LINES:
            raise AgiProtocolError("AGI environment too long")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            return parse_agi_environment(lines)
        lines.append(line)


class FastAgiServer:
    """Accepts Asterisk's FastAGI connections; one task per call."""

    def __init__(self, handler: CallHandler, host: str, port: int, timeout_s: float) -> None:
        self._handler = handler
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._server: asyncio.Server | None = None
        self.active_calls = 0
        self.completed_calls = 0
        self.protocol_errors = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_call, self.host, self.port)
        sockets = self._server.sockets or ()
        if sockets:
            self.port = sockets[0].getsockname()[1]
        logger.info("FastAGI listening on %s:%s", self.host, self.port)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None  # noqa: S101 - set by start()
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve_call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.active_calls += 1
        call_id = "?"
        try:
            env = await asyncio.wait_for(read_environment(reader), self.timeout_s)
            channel = AgiChannel(reader, writer, env, self.timeout_s)
            call_id = channel.call_id
            logger.info("call_id=%s started request=%s", call_id, env.get("network_script", ""))
            await self._handler(channel)
        except CallHungUp as exc:
            logger.info("call_id=%s hung up (%s)", call_id, exc)
        except (AgiProtocolError, TimeoutError) as exc:
            self.protocol_errors += 1
            logger.warning("call_id=%s AGI protocol error: %s", call_id, exc)
        except Exception:  # the call edge: one broken call must not stop the server
            logger.exception("call_id=%s call handler failed", call_id)
        finally:
            self.active_calls -= 1
            self.completed_calls += 1
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
