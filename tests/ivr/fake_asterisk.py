"""Asterisk's side of the AGI socket, played by the test, for faults a real Asterisk cannot
produce on demand (garbage, silence, a database that fails mid-call). The test chooses a
reply per command and writes the recording files Asterisk would write; everything else
(engine, store, database) is the real thing."""

from __future__ import annotations

import asyncio
import struct
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.clock import SystemClock
from core.db import Database
from core.settings import Settings
from ivr.app import ENGINE_PROMPTS, build_hotline
from ivr.fastagi import FastAgiServer
from ivr.menu import load_menu, prompt_keys
from ivr.prompts import PromptLibrary
from ivr.service import Hotline

ENV = (
    "agi_request: agi://127.0.0.1/{script}\nagi_network_script: {script}\n"
    "agi_uniqueid: 1700000000.{n}\nagi_callerid: +62812555000{n}\n"
    "agi_channel: PJSIP/gsm-0000000{n}\n\n"
)
SECOND = 16_000  # bytes of 8 kHz 16-bit mono audio


def wav(path: Path, seconds: float, *, finished_header: bool = True) -> None:
    """A telephone WAV; an unfinished header says 0 bytes of data (a cut recording)."""
    data = b"\x10\x00" * int(8000 * seconds)
    size = len(data) if finished_header else 0
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, SECOND, 2, 16)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + b"data" + struct.pack("<I", size) + data)


Reply = str | None  # None: say nothing (the peer is silent)


class FakeAsterisk:
    """Asterisk's side of one call: a reply per command, keys from per-prompt queues."""

    def __init__(
        self,
        keys: dict[str, list[str]],
        on_record: Callable[[Path, int], Reply],
        script: str = "ivr",
    ):
        # The dialplan's AGI script: ivr (the menu), callback or missed.
        self.script = script
        self.keys = defaultdict(list, {k: list(v) for k, v in keys.items()})
        self.on_record = on_record
        self.records = 0
        # Every command the server sent, and the prompts it played.
        self.commands: list[str] = []
        self.played: list[str] = []
        # The same prompts as the paths Asterisk was asked to play.
        self.paths: list[str] = []

    def reply(self, command: str) -> Reply:
        self.commands.append(command)
        words = command.split()
        verb = " ".join(words[:2])
        if verb in ("STREAM FILE", "GET DATA"):
            prompt = Path(words[2]).name
            self.played.append(prompt)
            self.paths.append(words[2])
            queue = self.keys[prompt]
            key = queue.pop(0) if queue else ""
            if verb == "GET DATA":
                return f"200 result={key}"
            return self.stream_result(command, key)
        if verb == "WAIT FOR":
            queue = self.keys["(wait)"]
            return f"200 result={ord(queue.pop(0)) if queue else 0}"
        if verb == "RECORD FILE":
            self.records += 1
            return self.on_record(Path(f"{words[2]}.{words[3]}"), self.records)
        if verb == "CHANNEL STATUS":
            return "200 result=6"
        return "200 result=1" if words[0] in ("HANGUP", "SET", "GET") else "200 result=0"

    @staticmethod
    def stream_result(command: str, key: str) -> str:
        """As Asterisk does, a key that is not an escape digit of STREAM FILE is ignored."""
        escape = command.split()[3].strip('"') if len(command.split()) > 3 else ""
        pressed = key if key and key in escape else ""
        return f"200 result={ord(pressed) if pressed else 0} endpos=8000"

    async def call(self, port: int, n: int = 1) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(ENV.format(n=n, script=self.script).encode())
        await writer.drain()
        try:
            while line := await asyncio.wait_for(reader.readline(), 10):
                reply = self.reply(line.decode().strip())
                if reply is not None:
                    writer.write(reply.encode() + b"\n")
                    await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()


@contextmanager
def prompts_only_hotline(settings: Settings, db: Database) -> Iterator[Hotline]:
    """The hotline as the CLI builds it, with every prompt a tiny recorded file."""
    # Recorded prompts (a few bytes each) so no speech is synthesised for these tests.
    folder = settings.data_dir / "prompts" / "recorded" / "id"
    folder.mkdir(parents=True)
    for key in prompt_keys(load_menu()) | set(ENGINE_PROMPTS):
        (folder / f"{key}.sln").write_bytes(b"\x00\x00" * 80)
    library = PromptLibrary(settings.data_dir, settings.asterisk_data_dir, texts={"ms": {}})
    hotline = build_hotline(settings, db, SystemClock(), library=library)
    yield hotline
    hotline.close()


def run_call(
    hotline: Hotline,
    peer: FakeAsterisk,
    timeout_s: float = 5.0,
    beside: Callable[[], Awaitable[None]] | None = None,
) -> FastAgiServer:
    """One call through a FastAGI server on its own event loop; ``beside`` runs on that
    loop for as long as the call does (then it is cancelled)."""

    async def main() -> FastAgiServer:
        server = FastAgiServer(hotline, "127.0.0.1", 0, timeout_s)
        await server.start()
        watching = asyncio.create_task(beside()) if beside is not None else None
        try:
            await peer.call(server.port)
            for _ in range(200):
                if server.completed_calls:
                    break
                await asyncio.sleep(0.01)
        finally:
            if watching is not None:
                watching.cancel()
            await server.close()
        return server

    return asyncio.run(main())


REPORT_KEYS = {
    "main-menu": ["2", "9"],
    "consent": ["1"],
    "hint-problem": ["1"],
    "hint-country": ["2"],
    "hint-village": ["#"],
    "record-confirm": ["3"],
}
