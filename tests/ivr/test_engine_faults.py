"""Bad input through the whole hotline (engine, store, database) that a real Asterisk
cannot produce on demand: garbage and silence on the AGI socket in the middle of a
report, a recording file that is empty or whose header was never finished, keys that
are not digits, a menu topic with no approved content.

The test plays Asterisk's side of the socket with replies chosen per command, and writes
the recording files Asterisk would write. Everything else is the real thing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import select

import ivr.reporting
from core.clock import SystemClock
from core.db import Database
from core.models import Call, Case, ContentItem, Job, Recording
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallOutcome, ContentStatus
from ivr.app import build_hotline
from ivr.pending import HINTS_SUFFIX, hints_path
from ivr.prompts import PromptLibrary
from ivr.service import Hotline
from ivr.store import HotlineStore, StoreProcess
from tests.conftest import TEST_SECRET
from tests.ivr.fake_asterisk import REPORT_KEYS, SECOND, FakeAsterisk, Reply, run_call, wav


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


def test_two_reports_in_one_call_are_two_cases_with_their_own_recordings(
    hotline: Hotline, db: Database, settings: Settings
) -> None:
    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 1.0 + attempt)  # 2 s, then 3 s: each report its own audio
        return "200 result=35 (dtmf) endpos=16000"

    keys = {**REPORT_KEYS, "main-menu": ["2", "2", "9"], "consent": ["1", "1"]}
    keys |= {"hint-problem": ["1", "3"], "hint-country": ["2", "1"], "record-confirm": ["3", "3"]}
    run_call(hotline, FakeAsterisk(keys, on_record))
    with db.read_session() as s:
        cases = s.scalars(select(Case).order_by(Case.id)).all()
        assert [c.keypad_hints.get("problem") for c in cases] == ["unpaid_wages", "violence"]
        recordings = s.scalars(select(Recording).order_by(Recording.id)).all()
        assert [r.case_id for r in recordings] == [c.id for c in cases]
        assert [round(r.duration_s) for r in recordings] == [2, 3]
        assert len({r.path for r in recordings}) == 2
        for recording in recordings:
            path = settings.data_dir / recording.path
            assert abs((path.stat().st_size - 44) / SECOND - recording.duration_s) < 0.01


def test_a_take_never_overwrites_a_file_already_there(hotline: Hotline, db: Database) -> None:
    # The same channel back in the menu (AGI entered again): its earlier take is there.
    earlier = recording_folder(hotline) / "1700000000.1-1.wav"
    wav(earlier, 4.0)
    before = earlier.read_bytes()

    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 2.0)
        return "200 result=35 (dtmf) endpos=16000"

    run_call(hotline, FakeAsterisk(REPORT_KEYS, on_record))
    assert earlier.read_bytes() == before
    with db.read_session() as s:
        assert s.scalars(select(Recording)).one().path.endswith("1700000000.1-2.wav")


def test_her_hints_wait_beside_the_take_until_her_report_is_stored(
    hotline: Hotline, db: Database
) -> None:
    # Kept there while she records, so that a server killed now loses no hint
    # (tests/ivr/test_orphan_takes.py stores such a take with them).
    beside: list[dict[str, str]] = []

    def on_record(path: Path, attempt: int) -> Reply:
        beside.append(json.loads(hints_path(path).read_text()))
        assert oct(hints_path(path).stat().st_mode & 0o777) == "0o600"
        wav(path, 2.0)
        return "200 result=35 (dtmf) endpos=16000"

    run_call(hotline, FakeAsterisk(REPORT_KEYS, on_record))
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        recording = s.scalars(select(Recording)).one()
    assert beside == [case.keypad_hints] and case.keypad_hints["country"] == "SA"
    take = hotline.settings.data_dir / recording.path
    assert take.exists() and not hints_path(take).exists()
    assert list(take.parent.glob(f"*{HINTS_SUFFIX}")) == []


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


def test_a_slow_disk_for_her_take_holds_up_no_other_caller(
    hotline: Hotline, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The take's folder and hints file are file system calls (about 1 ms at 200 calls,
    # with Asterisk writing every recording there): made on the event loop, they would
    # delay every other caller's next prompt by as long. A disk that takes 300 ms here.
    slow_s = 0.3
    real_keep = ivr.reporting.keep_hints

    def slow_keep(take: Path, hints: dict[str, str]) -> None:
        time.sleep(slow_s)
        real_keep(take, hints)

    def speak(path: Path, attempt: int) -> Reply:
        wav(path, 2.0)
        return "200 result=35 (dtmf) endpos=16000"

    monkeypatch.setattr(ivr.reporting, "keep_hints", slow_keep)
    lags: list[float] = []

    async def watch_the_loop() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - before - 0.01)

    run_call(hotline, FakeAsterisk(REPORT_KEYS, speak), beside=watch_the_loop)
    with db.read_session() as s:
        assert s.scalars(select(Case)).one().keypad_hints["country"] == "SA"
    assert max(lags) < slow_s / 2, f"the event loop stood still for {max(lags):.3f} s"
