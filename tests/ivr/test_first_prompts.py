"""A prompt not yet synthesised (the first seconds after a start, while the warm-up is
still at work) holds up only the call that plays it: the server's one event loop goes on
serving every other call meanwhile. Real espeak-ng and ffmpeg synthesise it."""

from __future__ import annotations

import asyncio

from core.clock import SystemClock
from core.db import Database
from core.settings import Settings
from ivr.app import ENGINE_PROMPTS, build_hotline
from ivr.fastagi import FastAgiServer
from ivr.menu import load_menu, prompt_keys
from ivr.prompts import PromptLibrary
from tests.ivr.fake_asterisk import FakeAsterisk

# Long enough that synthesising it takes far longer than a whole missed call.
LONG_MAIN_MENU = " ".join(["Tekan satu untuk informasi migrasi aman."] * 120)


def test_a_call_waiting_for_synthesis_holds_up_no_other_call(
    settings: Settings, db: Database
) -> None:
    # Every prompt a tiny recording but the main menu, which is only a long text.
    folder = settings.data_dir / "prompts" / "recorded" / "id"
    folder.mkdir(parents=True)
    for key in prompt_keys(load_menu()) | set(ENGINE_PROMPTS):
        if key != "main-menu":
            (folder / f"{key}.sln").write_bytes(b"\x00\x00" * 80)
    library = PromptLibrary(
        settings.data_dir,
        settings.asterisk_data_dir,
        texts={"id": {"main-menu": LONG_MAIN_MENU}, "ms": {}},
    )
    hotline = build_hotline(settings, db, SystemClock(), library=library)
    events: list[str] = []

    class Watched(FakeAsterisk):
        def __init__(self, name: str, script: str, answered: asyncio.Event) -> None:
            super().__init__({"main-menu": ["9"]}, lambda _path, _ms: None, script=script)
            self.name = name
            self.answered = answered

        def reply(self, command: str) -> str | None:
            events.append(f"{self.name}: {command.split()[0]}")
            if command == "ANSWER":
                self.answered.set()
            return super().reply(command)

    async def main() -> None:
        server = FastAgiServer(hotline, "127.0.0.1", 0, 30.0)
        await server.start()
        answered = asyncio.Event()
        try:
            menu = Watched("menu", "ivr", answered)
            caller = asyncio.create_task(menu.call(server.port, n=1))
            await asyncio.wait_for(answered.wait(), 30)
            # The menu's call now waits for its main menu; a missed call comes in.
            await Watched("missed", "missed", asyncio.Event()).call(server.port, n=2)
            events.append("missed call done")
            await asyncio.wait_for(caller, 60)
        finally:
            await server.close()

    try:
        asyncio.run(main())
    finally:
        hotline.close()
    assert events.index("missed call done") < events.index("menu: STREAM"), events
    assert hotline.engine.stats.missed_calls == 1
    assert library.resolved("main-menu", "id") is not None
