"""Bad input through the whole hotline (engine, store, database) that a real Asterisk
cannot produce on demand: garbage and silence on the AGI socket in the middle of a
report, a recording file that is empty or whose header was never finished, keys that
are not digits, a menu topic with no approved content.

The test plays Asterisk's side of the socket with replies chosen per command, and writes
the recording files Asterisk would write. Everything else is the real thing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import SystemClock
from core.db import Database
from core.models import Call, Case, ContentItem, Job, Recording
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallOutcome, ContentStatus
from ivr.app import ENGINE_PROMPTS, build_hotline
from ivr.fastagi import FastAgiServer
from ivr.menu import load_menu, prompt_keys
from ivr.prompts import PromptLibrary
from ivr.service import Hotline
from ivr.store import HotlineStore, StoreProcess
from tests.conftest import TEST_SECRET

ENV = (
    "agi_request: agi://127.0.0.1/ivr\nagi_network_script: ivr\n"
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

    def __init__(self, keys: dict[str, list[str]], on_record: Callable[[Path, int], Reply]):
        self.keys = defaultdict(list, {k: list(v) for k, v in keys.items()})
        self.on_record = on_record
        self.records = 0
        self.played: list[str] = []
        # The same prompts as the paths Asterisk was asked to play.
        self.paths: list[str] = []

    def reply(self, command: str) -> Reply:
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
        writer.write(ENV.format(n=n).encode())
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


@pytest.fixture
def hotline(settings: Settings, db: Database) -> Iterator[Hotline]:
    # Recorded prompts (a few bytes each) so no speech is synthesised for these tests.
    folder = settings.data_dir / "prompts" / "recorded" / "id"
    folder.mkdir(parents=True)
    for key in prompt_keys(load_menu()) | set(ENGINE_PROMPTS):
        (folder / f"{key}.sln").write_bytes(b"\x00\x00" * 80)
    library = PromptLibrary(settings.data_dir, settings.asterisk_data_dir, texts={"ms": {}})
    hotline = build_hotline(settings, db, SystemClock(), library=library)
    yield hotline
    hotline.close()


def run_call(hotline: Hotline, peer: FakeAsterisk, timeout_s: float = 5.0) -> FastAgiServer:
    async def main() -> FastAgiServer:
        server = FastAgiServer(hotline, "127.0.0.1", 0, timeout_s)
        await server.start()
        try:
            await peer.call(server.port)
            for _ in range(200):
                if server.completed_calls:
                    break
                await asyncio.sleep(0.01)
        finally:
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


def test_garbage_instead_of_the_recording_result_keeps_the_report(
    hotline: Hotline, db: Database
) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 3.0)  # Asterisk wrote three seconds, then the connection went bad
        return "\x00\x13 not AGI at all"

    server = run_call(hotline, FakeAsterisk(REPORT_KEYS, on_record))
    assert server.protocol_errors == 1
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        assert case.incomplete is True
        assert case.keypad_hints == {"problem": "unpaid_wages", "country": "SA"}
        recording = s.scalars(select(Recording)).one()
        assert recording.partial and recording.case_id == case.id
        assert recording.duration_s == pytest.approx(3.0, abs=0.01)
        assert s.scalars(select(Job)).one().payload["recording_id"] == recording.id
        call = s.scalars(select(Call)).one()
        assert call.outcome is CallOutcome.reported and call.ended_at is not None


@pytest.mark.parametrize("fault", ["garbage", "silence"])
def test_a_broken_socket_while_confirming_keeps_the_recording(
    hotline: Hotline, db: Database, fault: str
) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 2.0)
        return "200 result=35 (dtmf) endpos=16000"

    peer = FakeAsterisk(REPORT_KEYS, on_record)
    normal = peer.reply

    def reply(command: str) -> Reply:
        if "record-confirm" not in command:
            return normal(command)
        return "garbage" if fault == "garbage" else None

    peer.reply = reply  # type: ignore[method-assign]
    server = run_call(hotline, peer, timeout_s=0.5)
    assert server.protocol_errors == 1
    with db.read_session() as s:
        recording = s.scalars(select(Recording)).one()
        assert recording.duration_s == pytest.approx(2.0, abs=0.01)
        assert s.scalars(select(Case)).one().incomplete is True


def test_an_empty_recording_is_offered_again_and_never_stored(
    hotline: Hotline, db: Database
) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        if attempt == 1:
            # Asterisk says it recorded, but the disk took nothing (a full disk).
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            return "200 result=35 (dtmf) endpos=40000"
        wav(path, 2.5)
        return "200 result=35 (dtmf) endpos=20000"

    peer = FakeAsterisk(REPORT_KEYS, on_record)
    run_call(hotline, peer)
    assert peer.records == 2
    assert "record-empty" in peer.played
    assert hotline.engine.stats.empty_recordings == 1
    with db.read_session() as s:
        recording = s.scalars(select(Recording)).one()
        assert recording.duration_s == pytest.approx(2.5, abs=0.01)
        assert recording.path.endswith("-2.wav")
        assert s.scalars(select(Case)).one().incomplete is False
    first = recording_folder(hotline) / "1700000000.1-1.wav"
    assert not first.exists(), "the empty attempt is removed once the report is stored"


def recording_folder(hotline: Hotline) -> Path:
    now = datetime.now(UTC)
    return hotline.settings.data_dir.resolve() / "recordings" / f"{now:%Y}" / f"{now:%m}"


def test_a_cut_recording_header_still_gives_its_duration(hotline: Hotline, db: Database) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 4.0, finished_header=False)
        return "200 result=35 (dtmf) endpos=32000"

    run_call(hotline, FakeAsterisk(REPORT_KEYS, on_record))
    with db.read_session() as s:
        recording = s.scalars(select(Recording)).one()
        assert recording.duration_s == pytest.approx(4.0, abs=0.01)


def test_non_digit_keys_and_unapproved_content_are_answered_and_counted(
    hotline: Hotline, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    with db.transaction() as s:
        s.add(
            ContentItem(
                slug="draft",
                topic="documents",
                language="id",
                title="draft",
                body_text="Belum disetujui.",
                status=ContentStatus.draft,
                created_at=now,
                updated_at=now,
            )
        )
    # A key pad's A (not a digit) at the main menu; then the information menu, a topic
    # with nothing approved, and the quick exit.
    peer = FakeAsterisk({"info-topics": ["1", "9"], "(wait)": ["A", "1"]}, lambda p, n: None)
    with caplog.at_level("INFO"):
        run_call(hotline, peer)
    assert peer.played == [
        "main-menu",
        "invalid-choice",
        "main-menu",
        "info-topics",
        "no-content",
        "info-topics",
        "quick-exit",
    ]
    stats = hotline.engine.stats
    assert (stats.invalid_keys, stats.no_content, stats.quick_exits) == (1, 1, 1)
    assert "no approved content for topic documents" in caplog.text
    assert "invalid key" in caplog.text


def test_hanging_up_while_the_reference_is_read_stores_one_case(
    hotline: Hotline, db: Database
) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 2.0)
        return "200 result=35 (dtmf) endpos=16000"

    peer = FakeAsterisk(REPORT_KEYS, on_record)
    normal = peer.reply
    peer.reply = lambda c: "HANGUP" if "/digit-" in c else normal(c)  # type: ignore[method-assign]
    run_call(hotline, peer)
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        assert case.incomplete is False
        assert s.scalars(select(Recording)).one().case_id == case.id


def test_quick_exit_during_the_recording_stores_it_and_says_nothing_of_it(
    hotline: Hotline, db: Database
) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 1.5)
        return f"200 result={ord('9')} (dtmf) endpos=12000"

    peer = FakeAsterisk(REPORT_KEYS, on_record)
    run_call(hotline, peer)
    # An overheard caller hears only the harmless message: no case number.
    assert peer.played[-2:] == ["record-now", "quick-exit"]
    with db.read_session() as s:
        assert s.scalars(select(Case)).one().incomplete is True
        assert s.scalars(select(Recording)).one().partial is True
        assert s.scalars(select(Call)).one().outcome is CallOutcome.quick_exit


def _press_during(peer: FakeAsterisk, played: Callable[[str], bool], key: str) -> None:
    """The caller presses ``key`` while the first file that ``played`` picks is playing."""
    normal = peer.reply
    pressed = []

    def reply(command: str) -> Reply:
        answer = normal(command)
        if command.startswith("STREAM FILE") and not pressed and played(command.split()[2]):
            pressed.append(command)
            return peer.stream_result(command, key)
        return answer

    peer.reply = reply  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("keys", "empty_first_take", "interrupted"),
    [
        # Listening to her own recording (option 1 after recording).
        ({**REPORT_KEYS, "record-confirm": ["1", "3"]}, False, "/recordings/"),
        # Her case number being read out.
        (REPORT_KEYS, False, "/digit-"),
        # The apology for a wrong key.
        ({**REPORT_KEYS, "main-menu": ["5", "2"]}, False, "/invalid-choice"),
        # "Nothing was recorded, please try again".
        (REPORT_KEYS, True, "/record-empty"),
    ],
    ids=["own-recording", "case-number", "wrong-key-apology", "empty-recording-apology"],
)
def test_the_quick_exit_key_ends_the_call_whatever_she_is_hearing(
    hotline: Hotline,
    db: Database,
    keys: dict[str, list[str]],
    empty_first_take: bool,
    interrupted: str,
) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        if empty_first_take and attempt == 1:
            return "200 result=0 (timeout) endpos=0"
        wav(path, 1.5)
        return "200 result=35 (dtmf) endpos=12000"

    peer = FakeAsterisk(keys, on_record)
    _press_during(peer, lambda path: interrupted in path, "9")
    run_call(hotline, peer)
    # The file she was hearing stopped, the harmless message followed, and nothing else.
    assert any(interrupted in p for p in peer.paths[-2:-1]), peer.paths[-3:]
    assert peer.played[-1] == "quick-exit"
    assert hotline.engine.stats.quick_exits == 1
    with db.read_session() as s:
        assert s.scalars(select(Call)).one().outcome is CallOutcome.quick_exit
        # What she reported before is kept.
        if interrupted != "/invalid-choice":
            assert len(s.scalars(select(Case)).all()) == 1


def test_the_reference_is_read_twice_digit_by_digit(hotline: Hotline, db: Database) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 2.0)
        return "200 result=35 (dtmf) endpos=16000"

    peer = FakeAsterisk(REPORT_KEYS, on_record)
    run_call(hotline, peer)
    with db.read_session() as s:
        reference = s.scalars(select(Case)).one().reference
    start = peer.played.index("record-confirm") + 1
    assert peer.played[start:] == [
        "report-reference",
        *(f"digit-{d}" for d in reference),
        "report-reference-again",
        *(f"digit-{d}" for d in reference),
        "report-thanks",
        "main-menu",
        "quick-exit",
    ]


def test_the_store_helper_process_is_replaced_when_it_dies(
    settings: Settings, db: Database
) -> None:
    helper = StoreProcess(settings, SystemClock())
    store = HotlineStore(db, PhoneVault(TEST_SECRET), SystemClock(), settings.data_dir, helper)

    async def main() -> tuple[int, int]:
        first = await store.run(store.start_call, "1700000000.1", "+6281255500001")
        for process in list(helper._pool._processes.values()):
            os.kill(process.pid, signal.SIGKILL)
            process.join()
        second = await store.run(store.start_call, "1700000000.2", "+6281255500002")
        return first.call_id, second.call_id

    try:
        first, second = asyncio.run(main())
    finally:
        store.close()
    assert first != second
    with db.read_session() as s:
        assert len(s.scalars(select(Call)).all()) == 2


def test_a_menu_s_own_invalid_prompt_is_the_one_played(
    settings: Settings, db: Database, hotline: Hotline
) -> None:
    # The deployer's menu names its own apology for a wrong key at the main menu.
    text = load_menu_text().replace(
        "    fallback: goodbye\n", "    fallback: goodbye\n    invalid_prompt: wrong-key\n", 1
    )
    (settings.data_dir / "menu.yaml").write_text(text, encoding="utf-8")
    folder = settings.data_dir / "prompts" / "recorded" / "id"
    (folder / "wrong-key.sln").write_bytes(b"\x00\x00" * 80)
    library = PromptLibrary(settings.data_dir, settings.asterisk_data_dir, texts={"ms": {}})
    custom = build_hotline(settings, db, SystemClock(), library=library)
    try:
        peer = FakeAsterisk({"main-menu": ["7", "9"]}, lambda p, n: None)
        run_call(custom, peer)
    finally:
        custom.close()
    assert peer.played == ["main-menu", "wrong-key", "main-menu", "quick-exit"]
    assert custom.engine.stats.missing_prompts == 0


def test_a_language_with_some_prompts_recorded_plays_the_others_in_indonesian(
    settings: Settings, db: Database, hotline: Hotline
) -> None:
    # The centre recorded its Javanese main menu and nothing else yet.
    text = load_menu_text().replace(
        'languages: {"1": id, "2": ms}', 'languages: {"1": id, "2": jv}'
    )
    (settings.data_dir / "menu.yaml").write_text(text, encoding="utf-8")
    javanese = settings.data_dir / "prompts" / "recorded" / "jv"
    javanese.mkdir(parents=True)
    (javanese / "main-menu.sln").write_bytes(b"\x00\x00" * 80)
    library = PromptLibrary(settings.data_dir, settings.asterisk_data_dir, texts={"ms": {}})
    custom = build_hotline(settings, db, SystemClock(), library=library)
    try:
        peer = FakeAsterisk(
            {"choose-language": ["2"], "main-menu": ["1"], "info-topics": ["9"]},
            lambda p, n: None,
        )
        run_call(custom, peer)
    finally:
        custom.close()
    languages = [Path(path).parent.name for path in peer.paths]
    assert list(zip(peer.played, languages, strict=True)) == [
        ("choose-language", "id"),
        ("main-menu", "jv"),
        ("info-topics", "id"),
        ("quick-exit", "id"),
    ]
    stats = custom.engine.stats
    assert (stats.fallback_prompts, stats.missing_prompts) == (2, 0)
    with db.read_session() as s:
        assert s.scalars(select(Call.language)).one() == "jv"


def load_menu_text() -> str:
    return resources.files("ivr").joinpath("default_menu.yaml").read_text(encoding="utf-8")
