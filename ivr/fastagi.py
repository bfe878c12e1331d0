"""FastAGI: the TCP protocol Asterisk's ``AGI(agi://host:port/script)`` speaks.

The pure part parses the AGI environment and command responses; the I/O part is an
asyncio server with one task per call. A hangup (``HANGUP`` line, ``-1`` result or a
closed socket) raises :class:`CallHungUp`, which ends the call task cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from core.collector import activity
from ivr.errors import AgiProtocolError, CallHungUp, PromptUnavailable

logger = logging.getLogger(__name__)

_RESULT = re.compile(r"^(?P<code>\d{3})(?P<sep>[ -])(?P<rest>.*)$")
_RESULT_VALUE = re.compile(r"^result=(?P<value>\S*)\s*(?P<rest>.*)$")
_ENDPOS = re.compile(r"\bendpos=(?P<endpos>-?\d+)")
MAX_ENV_LINES = 200
MAX_LINE = 8192


@dataclass(frozen=True)
class AgiResult:
    """One parsed AGI response, e.g. ``200 result=49 (dtmf) endpos=8000``.

    ``value`` is the raw text after ``result=`` (GET DATA digits keep leading zeros and
    may be empty on timeout); ``result`` is that text as an integer when it is one.
    """

    code: int
    value: str
    data: str
    endpos: int | None
    text: str

    @property
    def result(self) -> int | None:
        try:
            return int(self.value)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return self.code == 200 and (self.result is None or self.result >= 0)


def parse_agi_environment(lines: list[str]) -> dict[str, str]:
    """``agi_channel: PJSIP/100-0001`` lines -> ``{"channel": "PJSIP/100-0001"}``."""
    env: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_"):
            # Never quote the line: it may hold the caller's number.
            raise AgiProtocolError(f"not an AGI environment line ({len(line)} characters)")
        env[key[4:].strip()] = value.strip()
    return env


def parse_agi_response(line: str) -> AgiResult:
    """Parse one response line (the first line of a multi-line ``520-`` usage reply).

    Raises CallHungUp for Asterisk's asynchronous ``HANGUP`` line and AgiProtocolError
    for anything that is not an AGI response.
    """
    line = line.strip()
    if line == "HANGUP":
        raise CallHungUp("HANGUP received")
    match = _RESULT.match(line)
    if match is None:
        raise AgiProtocolError(f"unparseable AGI response ({len(line)} characters)")
    code, rest = int(match["code"]), match["rest"]
    value = ""
    if code == 200:
        value_match = _RESULT_VALUE.match(rest)
        if value_match is None:
            raise AgiProtocolError("200 response without result=")
        value, rest = value_match["value"], value_match["rest"]
    data = ""
    if rest.startswith("("):
        # The data runs to the LAST closing parenthesis: a variable's value may hold "(".
        close = rest.rfind(")")
        if close > 0:
            data, rest = rest[1:close], rest[close + 1 :]
    endpos = _ENDPOS.search(rest)
    return AgiResult(
        code=code,
        value=value,
        data=data,
        endpos=int(endpos["endpos"]) if endpos else None,
        text=line,
    )


def quote(argument: str) -> str:
    """An AGI command argument, quoted; refuses characters that would split the command."""
    if any(c in argument for c in '"\n\r\\'):
        raise ValueError("AGI arguments may not contain quotes, backslashes or newlines")
    return f'"{argument}"'


def _digit(result: AgiResult) -> str:
    """STREAM FILE, WAIT FOR DIGIT and RECORD FILE report a key as its ASCII code."""
    code = result.result
    return chr(code) if code is not None and code > 0 else ""


class RecordEnd(StrEnum):
    # The caller pressed one of the escape digits (e.g. # to finish).
    dtmf = "dtmf"
    # Silence for the given time, or the maximum duration reached.
    timeout = "timeout"
    # The caller hung up: the partial recording is on disk and must be kept.
    hangup = "hangup"
    # Asterisk could not write the file.
    error = "error"


@dataclass(frozen=True)
class Recorded:
    end: RecordEnd
    digit: str
    # Samples written (8 kHz for telephone audio), as Asterisk reports them.
    endpos: int


def parse_record_result(result: AgiResult) -> Recorded:
    """Interpret RECORD FILE's reply; a hangup is an outcome here, not an exception."""
    if result.data == "hangup" or (result.result == -1 and result.data != "writefile"):
        end = RecordEnd.hangup
    elif result.data == "dtmf":
        end = RecordEnd.dtmf
    elif result.data in ("writefile", "randomerror") or result.code != 200:
        end = RecordEnd.error
    else:
        end = RecordEnd.timeout
    digit = _digit(result) if end is RecordEnd.dtmf else ""
    return Recorded(end=end, digit=digit, endpos=max(0, result.endpos or 0))


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
        # Replies Asterisk still owes: a HANGUP line may come before a command's reply.
        self._owed_replies = 0

    @property
    def call_id(self) -> str:
        return self.env.get("uniqueid", "?")

    async def command(
        self, text: str, timeout_s: float | None = None, *, hangup_is_result: bool = False
    ) -> AgiResult:
        """Send one AGI command and return its parsed reply.

        Raises CallHungUp when the channel is gone (``HANGUP``, ``result=-1``, closed
        socket), unless ``hangup_is_result`` (RECORD FILE: the partial file counts).
        Raises AgiProtocolError when the reply is not AGI or Asterisk refuses the command.
        """
        result = await self._send(text, timeout_s, after_hangup=False)
        verb = text.split(" ", 1)[0]
        if result.code == 511:
            raise CallHungUp(f"{verb}: channel is dead")
        if result.code != 200:
            raise AgiProtocolError(f"{verb} refused with {result.code}")
        if result.result == -1 and not hangup_is_result:
            raise CallHungUp(f"result=-1 for {verb}")
        return result

    async def _send(self, text: str, timeout_s: float | None, *, after_hangup: bool) -> AgiResult:
        if self._writer.is_closing():
            raise CallHungUp("socket closed")
        self._writer.write(text.encode("utf-8") + b"\n")
        self._owed_replies += 1
        try:
            await self._writer.drain()
            # asyncio.timeout, not wait_for: no extra task and loop turn per command.
            async with asyncio.timeout(timeout_s or self.timeout_s):
                result = await self._read_reply(after_hangup=after_hangup)
                # After a hangup, first come the replies of the commands it interrupted
                # (replies come in order): this command's is the last one owed.
                while after_hangup and self._owed_replies > 0:
                    result = await self._read_reply(after_hangup=True)
                return result
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise CallHungUp(type(exc).__name__) from None

    async def _read_reply(self, *, after_hangup: bool) -> AgiResult:
        result = parse_agi_response(await self._readline(after_hangup=after_hangup))
        self._owed_replies -= 1
        if result.code == 520 and result.text.startswith("520-"):
            # Usage text follows until "520 End of proper usage."
            while not (await self._readline(after_hangup=after_hangup)).startswith("520 "):
                pass
        return result

    async def _readline(self, *, after_hangup: bool) -> str:
        while True:
            try:
                raw = await self._reader.readline()
                activity.note()  # a step in hand: the paced collector waits for a gap
            except ValueError:  # the stream's limit: a line longer than MAX_LINE
                raise AgiProtocolError("AGI line too long") from None
            if not raw:
                raise CallHungUp("socket closed")
            if len(raw) > MAX_LINE:
                raise AgiProtocolError("AGI line too long")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "HANGUP":
                if after_hangup:
                    continue
                # After a hangup Asterisk may send "HANGUP" before the command's own reply
                # (which stays owed).
                raise CallHungUp("HANGUP received")
            if line:
                return line

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def stream_file(self, name: str, escape_digits: str = "") -> str:
        """Play a prompt; returns the key pressed to interrupt it, or "".

        Raises PromptUnavailable when Asterisk cannot play the file and CallHungUp when
        the caller is gone.
        """
        result = await self.command(
            f"STREAM FILE {name} {quote(escape_digits)}", hangup_is_result=True
        )
        if result.result == -1:
            # Asterisk answers "result=-1 endpos=0" both for a missing file (the channel is
            # still up) and for a hangup (then a HANGUP line follows): ask the channel.
            await self.command("CHANNEL STATUS")
            raise PromptUnavailable(f"cannot play prompt {name!r}")
        return _digit(result)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        """Play ``prompt`` and collect up to ``max_digits`` keys; "" when nothing came."""
        wait_s = self.timeout_s + timeout_ms / 1000 * (max_digits + 1)
        result = await self.command(f"GET DATA {prompt} {timeout_ms} {max_digits}", wait_s)
        return "" if result.data == "timeout" and not result.value else result.value

    async def wait_for_digit(self, timeout_ms: int) -> str:
        """One key, or "" when ``timeout_ms`` passed with none."""
        result = await self.command(
            f"WAIT FOR DIGIT {timeout_ms}", self.timeout_s + timeout_ms / 1000
        )
        return _digit(result)

    async def record_file(
        self,
        name: str,
        fmt: str,
        *,
        escape_digits: str,
        max_ms: int,
        silence_s: int | None = None,
        beep: bool = True,
    ) -> Recorded:
        """Record to ``name.fmt`` until a key, silence, ``max_ms`` or hangup.

        A hangup returns ``RecordEnd.hangup``: the partial recording exists and is kept.
        """
        command = f"RECORD FILE {name} {fmt} {quote(escape_digits)} {max_ms}"
        if beep:
            command += " BEEP"
        if silence_s:
            command += f" s={silence_s}"
        result = await self.command(command, self.timeout_s + max_ms / 1000, hangup_is_result=True)
        return parse_record_result(result)

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {quote(name)} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        """The channel variable's value, or None when it is not set."""
        result = await self.command(f"GET VARIABLE {quote(name)}")
        return result.data if result.result == 1 else None

    async def get_variable_after_hangup(self, name: str) -> str | None:
        """The channel variable's value once the channel has hung up (DIALSTATUS after the
        caller left during a Dial), or None when it is not set.

        Asterisk keeps a hung-up channel's AGI session open ("dead" mode) and still
        answers GET VARIABLE. Its HANGUP line may arrive before or after a reply, and the
        reply of a command the hangup interrupted still comes: both are skipped here.
        Raises CallHungUp when the session itself is gone (the socket closed).
        """
        result = await self._send(f"GET VARIABLE {quote(name)}", None, after_hangup=True)
        if result.code != 200:
            raise AgiProtocolError(f"GET VARIABLE after hangup refused with {result.code}")
        return result.data if result.result == 1 else None

    async def exec(self, application: str, args: str = "") -> int:
        """Run a dialplan application (Dial, Playback); -2 means it does not exist."""
        if not application.isalnum():
            raise ValueError("application names are letters and digits")
        result = await self.command(f"EXEC {application} {quote(args)}")
        return result.result or 0

    async def hangup(self) -> None:
        try:
            await self.command("HANGUP")
        except CallHungUp:
            pass


CallHandler = Callable[[AgiChannel], Awaitable[None]]


async def read_environment(reader: asyncio.StreamReader) -> dict[str, str]:
    lines: list[str] = []
    while True:
        try:
            raw = await reader.readline()
        except ValueError:  # the stream's limit: a line longer than MAX_LINE
            raise AgiProtocolError("AGI environment line too long") from None
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
        self._calls: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on ``host:port``, or on ``sock`` when the caller bound it already."""
        if sock is not None:
            self._server = await asyncio.start_server(self._serve_call, sock=sock, limit=MAX_LINE)
        else:
            self._server = await asyncio.start_server(
                self._serve_call, self.host, self.port, limit=MAX_LINE
            )
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
        """Stop accepting calls and end the calls in progress (their sockets close)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._calls):
            task.cancel()
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve_call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._calls.add(task)
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
        except asyncio.CancelledError:
            # close() during shutdown. This task is asyncio's connection callback and the
            # end of the line: re-raising would only make asyncio log a traceback.
            logger.info("call_id=%s ended: the server is stopping", call_id)
        except (AgiProtocolError, TimeoutError) as exc:
            self.protocol_errors += 1
            logger.warning("call_id=%s AGI protocol error: %s", call_id, exc)
        except Exception:  # the call edge: one broken call must not stop the server
            logger.exception("call_id=%s call handler failed", call_id)
        finally:
            self.active_calls -= 1
            self.completed_calls += 1
            if task is not None:
                self._calls.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
