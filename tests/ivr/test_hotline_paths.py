"""End to end on the real Asterisk: the default menu's paths that the other call tests do
not drive (a callback request, the reserved keys, the listen / re-record / confirm step,
a recording ended by silence, declined consent)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from core.db import Database
from core.models import Call, CallbackRequest, Case, Job, Recording
from core.settings import Settings
from core.states import CallbackSource, CallbackState, CallOutcome, JobState
from tests.ivr.conftest import HotlineSite
from tests.ivr.harness import (
    Await,
    HangUp,
    Harness,
    Listen,
    Press,
    Say,
    Silence,
    Step,
    Trace,
    loudness,
    serve,
    speech,
    up_to_the_beep,
)

pytestmark = pytest.mark.slow


def _calls(harness: Harness, *scripts: list[Step]) -> list[Trace]:
    """Place one call per script, one after the other; every caller followed its script
    and the engine played every prompt it meant to."""
    traces: list[Trace] = []

    async def body() -> None:
        for steps in scripts:
            traces.append(await harness.call(steps))

    serve(harness, body())  # which checks that Asterisk played every prompt
    assert harness.caller_errors == []
    assert not harness.hotline.engine.stats.errors
    return traces


# After "send": the reference once (# skips its repetition), then the thanks.
HEAR_REFERENCE_THEN_HANG_UP: list[Step] = [
    Await("play", "digit-"),
    Await("play", "report-reference-again"),
    Press("#"),
    Await("play", "report-thanks"),
    HangUp(),
]


def _reference(trace: Trace) -> str:
    return next(detail for event, detail in trace.events if event == "report")


def _reference_prompts(trace: Trace) -> list[str]:
    return ["report-reference", *(f"digit-{d}" for d in _reference(trace))]


def test_callback_request_with_a_preferred_time_then_goodbye(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    settings, db = site_db
    harness = Harness(hotline_site, settings, db)
    first, again = _calls(
        harness,
        [
            Await("play", "main-menu"),
            Press("4"),
            Await("play", "callback-intro"),
            Press("2"),
            Await("hangup"),
        ],
        # The same number asks again: still one request, with the newest time.
        [
            Await("play", "main-menu"),
            Press("4"),
            Await("play", "callback-intro"),
            Press("1"),
            Await("hangup"),
        ],
    )
    for trace in (first, again):
        assert trace.played() == ["main-menu", "callback-intro", "callback-thanks", "goodbye"]
    assert ("key", "2") in first.events and ("key", "1") in again.events
    with db.read_session() as s:
        calls = s.scalars(select(Call).order_by(Call.id)).all()
        assert [c.outcome for c in calls] == [CallOutcome.callback_requested] * 2
        assert [step[0] for step in calls[0].menu_path] == [
            "language",
            "main",
            "callback",
            "goodbye",
        ]
        request = s.scalars(select(CallbackRequest)).one()
        assert request.source is CallbackSource.menu
        assert request.state is CallbackState.pending
        assert request.preferred_time == "morning"
        assert request.call_id == calls[0].id
        assert request.caller_id == calls[0].caller_id == calls[1].caller_id
        assert request.caller_id is not None
        assert (request.language, request.attempts) == ("id", 0)
        # A menu request waits for a case worker at once (no missed-call delay).
        assert request.due_at == request.created_at


def test_zero_repeats_the_menu_and_star_goes_back_one_level(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    settings, db = site_db
    harness = Harness(hotline_site, settings, db)
    (trace,) = _calls(
        harness,
        [
            Await("play", "main-menu"),
            Press("0"),
            Await("play", "main-menu"),
            Press("1"),
            Await("play", "info-topics"),
            Press("6"),
            Await("play", "embassy-countries"),
            Press("0"),
            Await("play", "embassy-countries"),
            Press("*"),
            Await("play", "info-topics"),
            Press("*"),
            Await("play", "main-menu"),
            # * on the top menu has nowhere to go back to: the menu is said again.
            Press("*"),
            Await("play", "main-menu"),
            # Out of a node that is not a menu, * returns to the menu it came from.
            Press("4"),
            Await("play", "callback-intro"),
            Press("*"),
            Await("play", "main-menu"),
            Press("2"),
            Await("play", "consent"),
            Press("*"),
            Await("play", "main-menu"),
            Press("9"),
            Await("hangup"),
        ],
    )
    assert trace.played() == [
        "main-menu",
        "main-menu",
        "info-topics",
        "embassy-countries",
        "embassy-countries",
        "info-topics",
        "main-menu",
        "main-menu",
        "callback-intro",
        "main-menu",
        "report-intro",
        "consent",
        "main-menu",
        "quick-exit",
    ]
    stats = harness.hotline.engine.stats
    # Reserved keys are neither invalid nor a silence.
    assert (stats.invalid_keys, stats.timeouts, stats.reports) == (0, 0, 0)
    with db.read_session() as s:
        assert s.scalars(select(Call)).one().outcome is CallOutcome.quick_exit
        assert s.scalars(select(CallbackRequest)).all() == []
        assert s.scalars(select(Case)).all() == []


def test_listen_then_record_again_then_send_keeps_only_the_last_recording(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    settings, db = site_db
    first, first_s = speech(hotline_site, "first-take", "Gaji saya belum dibayar.")
    second, second_s = speech(
        hotline_site,
        "second-take",
        "Saya bekerja di Hong Kong. Majikan saya tidak membayar gaji saya selama empat "
        "bulan, dan paspor saya disimpan oleh agen.",
    )
    harness = Harness(hotline_site, settings, db)
    (trace,) = _calls(
        harness,
        [
            *up_to_the_beep(problem="1", country="3", village="#"),
            Say(first),
            Press("#"),
            Await("play", "record-confirm"),
            Press("1"),
            Await("play", "own-recording"),
            # What she hears now is her own first take.
            Listen("own-recording", 1.5),
            Await("play", "record-confirm"),
            Press("2"),
            Await("record"),
            Say(second),
            Press("#"),
            Await("play", "record-confirm"),
            Press("3"),
            *HEAR_REFERENCE_THEN_HANG_UP,
        ],
    )
    recorded = [detail for event, detail in trace.events if event == "record"]
    assert len(recorded) == 2
    assert trace.played() == [
        "main-menu",
        "report-intro",
        "consent",
        "hint-problem",
        "hint-country",
        "hint-village",
        "record-now",
        "record-confirm",
        "record-playback",
        "own-recording",
        "record-confirm",
        "record-now",
        "record-confirm",
        *_reference_prompts(trace),
        "report-reference-again",
        "report-thanks",
    ]
    assert loudness(settings.data_dir / "heard" / "own-recording.wav") > 100
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        assert case.reference == _reference(trace)
        assert case.incomplete is False
        assert case.keypad_hints == {"problem": "unpaid_wages", "country": "HK"}
        recording = s.scalars(select(Recording)).one()
        assert recording.case_id == case.id and not recording.partial
        assert Path(recording.path).name == recorded[1]
        assert abs(recording.duration_s - second_s) <= 0.1 * second_s, (
            recording.duration_s,
            second_s,
            first_s,
        )
        assert (settings.data_dir / recording.path).is_file()
        # The superseded take is gone from disk, not only from the database.
        superseded = (settings.data_dir / recording.path).with_name(recorded[0])
        assert not superseded.exists()
        job = s.scalars(select(Job)).one()
        assert job.kind == "transcribe" and job.state is JobState.queued
        assert job.payload == {"recording_id": recording.id, "language": "id"}
        assert s.scalars(select(Call)).one().outcome is CallOutcome.reported
    assert harness.hotline.engine.stats.reports == 1


def test_quick_exit_while_she_hears_her_own_recording_keeps_it_and_says_nothing_more(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    settings, db = site_db
    take, _ = speech(
        hotline_site, "overheard-take", "Majikan saya mengambil paspor saya dan tidak membayar."
    )
    harness = Harness(hotline_site, settings, db)
    (trace,) = _calls(
        harness,
        [
            *up_to_the_beep(problem="2", country="1", village="#"),
            Say(take),
            Press("#"),
            Await("play", "record-confirm"),
            Press("1"),
            Await("play", "own-recording"),
            Press("9"),
            Await("hangup"),
        ],
    )
    # Her recording stopped; only the harmless message followed: no case number.
    assert trace.played()[-3:] == ["record-playback", "own-recording", "quick-exit"]
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        # She did not press "send": the report is kept, marked incomplete.
        assert case.incomplete is True
        recording = s.scalars(select(Recording)).one()
        assert recording.case_id == case.id
        assert (settings.data_dir / recording.path).is_file()
        assert s.scalars(select(Job)).one().kind == "transcribe"
        assert s.scalars(select(Call)).one().outcome is CallOutcome.quick_exit
    assert harness.hotline.engine.stats.quick_exits == 1


def _menu_with_short_silence(tmp_path: Path, silence_s: int) -> Path:
    """The default menu, its report ending after ``silence_s`` seconds of silence."""
    menu = yaml.safe_load(
        resources.files("ivr").joinpath("default_menu.yaml").read_text(encoding="utf-8")
    )
    menu["nodes"]["report"]["silence_s"] = silence_s
    path = tmp_path / "menu.yaml"
    path.write_text(yaml.safe_dump(menu), encoding="utf-8")
    return path


def test_recording_ended_by_silence_is_stored_with_what_was_said(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database], tmp_path: Path
) -> None:
    settings, db = site_db
    menu = _menu_with_short_silence(tmp_path, 2)
    settings = settings.model_copy(
        update={"hotline": settings.hotline.model_copy(update={"menu_file": menu})}
    )
    spoken, seconds = speech(
        hotline_site,
        "then-silence",
        "Saya di Arab Saudi. Majikan saya memukul saya dan saya tidak boleh keluar rumah. "
        "Tolong hubungi keluarga saya di desa.",
    )
    harness = Harness(hotline_site, settings, db)
    (trace,) = _calls(
        harness,
        [
            *up_to_the_beep(problem="3", country="2", village="#"),
            Say(spoken),
            # She says nothing more and presses nothing: the silence ends the recording.
            Silence(5),
            Await("play", "record-confirm"),
            Press("3"),
            *HEAR_REFERENCE_THEN_HANG_UP,
        ],
    )
    ended = [detail for event, detail in trace.events if event == "recorded"]
    assert len(ended) == 1 and ended[0].startswith("timeout:"), ended
    played = trace.played()
    # The caller's leg is still sending silence when the question starts, so her 3 may
    # come after the first wait: record-confirm can be asked once more (not asserted).
    after_record = [p for p in played[played.index("record-now") :] if p != "record-confirm"]
    assert "record-confirm" in played
    assert after_record == [
        "record-now",
        *_reference_prompts(trace),
        "report-reference-again",
        "report-thanks",
    ]
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        assert case.incomplete is False
        recording = s.scalars(select(Recording)).one()
        assert recording.case_id == case.id and not recording.partial
        assert abs(recording.duration_s - seconds) <= 0.1 * seconds, (recording.duration_s, seconds)
        assert (settings.data_dir / recording.path).is_file()
        assert s.scalars(select(Job)).one().payload["recording_id"] == recording.id


@pytest.mark.parametrize(
    ("answer", "heard"),
    [
        # She presses 2 (does not agree): straight back to the main menu.
        ([Press("2")], []),
        # Another key is not consent: an apology and the question again; then silence.
        (
            [Press("5"), Await("play", "consent")],
            ["invalid-choice", "report-intro", "consent", "report-intro", "consent"],
        ),
    ],
    ids=["presses-2", "other-key-then-silence"],
)
def test_declined_consent_records_nothing_and_returns_to_the_menu(
    hotline_site: HotlineSite,
    site_db: tuple[Settings, Database],
    answer: list[Step],
    heard: list[str],
) -> None:
    settings, db = site_db
    recordings = settings.data_dir / "recordings"
    before = set(recordings.rglob("*")) if recordings.exists() else set()
    harness = Harness(hotline_site, settings, db)
    (trace,) = _calls(
        harness,
        [
            Await("play", "main-menu"),
            Press("2"),
            Await("play", "consent"),
            *answer,
            Await("consent", "declined", timeout_s=60),
            # The call goes on: the main menu again, where she leaves with 9.
            Await("play", "main-menu"),
            Press("9"),
            Await("hangup"),
        ],
    )
    assert trace.played() == [
        "main-menu",
        "report-intro",
        "consent",
        *heard,
        "main-menu",
        "quick-exit",
    ]
    assert not any(event in ("record", "report") for event, _ in trace.events)
    assert harness.hotline.engine.stats.reports == 0
    after = set(recordings.rglob("*")) if recordings.exists() else set()
    assert after == before
    with db.read_session() as s:
        assert s.scalars(select(Case)).all() == []
        assert s.scalars(select(Recording)).all() == []
        assert s.scalars(select(Job)).all() == []
        call = s.scalars(select(Call)).one()
        assert call.outcome is CallOutcome.quick_exit
        assert [step[0] for step in call.menu_path][:4] == ["language", "main", "report", "main"]
