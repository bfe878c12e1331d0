"""The content library: review with four eyes, immutability, versions, validity, uploads."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from broadcasts import library
from broadcasts.errors import (
    ContentImmutable,
    ContentStateError,
    InvalidContent,
    NotPermitted,
    RecordingRejected,
)
from broadcasts.render import RenderContentHandler
from core.clock import SystemClock
from core.db import Database
from core.models import ContentItem, Job
from core.queue import ClaimedJob
from core.settings import Settings
from core.states import ContentStatus
from tests.broadcasts.conftest import T0, Editors, approved_item, get, tone
from tests.conftest import make_settings


def _draft(db: Database, editors: Editors, slug: str = "fees", **fields: object) -> int:
    with db.transaction() as s:
        item = library.create_draft(
            s,
            actor_id=editors.alice,
            now=T0,
            slug=slug,
            title="Biaya penempatan",
            topic="fees",
            language="id",
            body_text="Pekerja migran tidak boleh dibebani biaya penempatan.",
            **fields,  # type: ignore[arg-type]
        )
        return item.id


def test_review_with_four_eyes(db: Database, editors: Editors) -> None:
    item_id = _draft(db, editors)
    with db.transaction() as s:
        library.submit(s, item_id, actor_id=editors.alice, now=T0)
        with pytest.raises(NotPermitted, match="four eyes"):
            library.approve(s, item_id, actor_id=editors.alice, now=T0)
    with db.transaction() as s:
        with pytest.raises(NotPermitted, match="editors"):
            library.approve(s, item_id, actor_id=editors.case_worker, now=T0)
    with db.transaction() as s:
        library.approve(s, item_id, actor_id=editors.bob, now=T0 + timedelta(hours=1))
        assert [i.id for i in library.playable_items(s, T0 + timedelta(hours=2))] == [item_id]
    item = get(db, item_id)
    assert item.status is ContentStatus.approved
    assert item.approved_by_id == editors.bob
    with db.read_session() as s:
        actions = [e.action for e in library.history(s, item_id)]
        jobs = s.scalars(select(Job.kind)).all()
    assert actions == ["content.create", "content.submit", "content.approve"]
    assert jobs == [library.RENDER_KIND]


def test_an_editor_who_edited_cannot_approve(db: Database, editors: Editors) -> None:
    item_id = _draft(db, editors)
    with db.transaction() as s:
        library.edit_draft(s, item_id, actor_id=editors.bob, now=T0, title="Tanpa biaya")
        library.submit(s, item_id, actor_id=editors.alice, now=T0)
        with pytest.raises(NotPermitted):
            library.approve(s, item_id, actor_id=editors.bob, now=T0)
        library.approve(s, item_id, actor_id=editors.carol, now=T0)


def test_reject_returns_to_draft_with_the_comment(db: Database, editors: Editors) -> None:
    item_id = _draft(db, editors)
    with db.transaction() as s:
        library.submit(s, item_id, actor_id=editors.alice, now=T0)
        with pytest.raises(InvalidContent, match="comment"):
            library.reject(s, item_id, actor_id=editors.bob, now=T0, comment="  ")
        with pytest.raises(ContentStateError, match="reject it back"):
            library.edit_draft(s, item_id, actor_id=editors.alice, now=T0, title="x")
        library.reject(
            s, item_id, actor_id=editors.bob, now=T0, comment="Sebutkan undang-undangnya"
        )
    item = get(db, item_id)
    assert item.status is ContentStatus.draft
    assert item.review_comment == "Sebutkan undang-undangnya"
    with db.transaction() as s:
        library.edit_draft(s, item_id, actor_id=editors.alice, now=T0, body_text="UU 18/2017 ...")
        library.submit(s, item_id, actor_id=editors.alice, now=T0)
        library.approve(s, item_id, actor_id=editors.bob, now=T0)
    assert get(db, item_id).review_comment is None


def test_approved_versions_are_immutable(
    db: Database, editors: Editors, settings: Settings, tmp_path: Path
) -> None:
    item_id = approved_item(db, editors, "immutable")
    before = get(db, item_id)
    wav = tone(tmp_path / "voice.wav", 2.0)
    with db.transaction() as s:
        with pytest.raises(ContentImmutable, match="new version"):
            library.edit_draft(s, item_id, actor_id=editors.alice, now=T0, body_text="changed")
        with pytest.raises(ContentImmutable):
            library.attach_recording(
                s, settings, item_id, wav, original_name="v.wav", actor_id=editors.alice, now=T0
            )
        with pytest.raises(ContentImmutable):
            library.remove_recording(s, item_id, actor_id=editors.alice, now=T0)
        with pytest.raises(ContentStateError):
            library.submit(s, item_id, actor_id=editors.alice, now=T0)
    after = get(db, item_id)
    assert (after.body_text, after.status, after.updated_at) == (
        before.body_text,
        ContentStatus.approved,
        before.updated_at,
    )
    with db.transaction() as s:
        library.retire(s, item_id, actor_id=editors.bob, now=T0, reason="outdated")
        with pytest.raises(ContentImmutable):
            library.edit_draft(s, item_id, actor_id=editors.alice, now=T0, title="again")
        with pytest.raises(ContentStateError):
            library.retire(s, item_id, actor_id=editors.bob, now=T0)


def test_new_version_replaces_the_approved_one(db: Database, editors: Editors) -> None:
    v1 = approved_item(db, editors, "versions")
    with db.transaction() as s:
        v2 = library.new_version(s, v1, actor_id=editors.bob, now=T0).id
        with pytest.raises(ContentStateError, match="open version 2"):
            library.new_version(s, v1, actor_id=editors.bob, now=T0)
        library.edit_draft(s, v2, actor_id=editors.bob, now=T0, body_text="Versi baru.")
        library.submit(s, v2, actor_id=editors.bob, now=T0)
        # v1 still plays while v2 waits for review.
        assert [i.id for i in library.playable_items(s, T0 + timedelta(minutes=5))] == [v1]
        library.approve(s, v2, actor_id=editors.alice, now=T0 + timedelta(minutes=10))
        playing = library.playable_items(s, T0 + timedelta(minutes=11))
        assert [(i.id, i.version, i.body_text) for i in playing] == [(v2, 2, "Versi baru.")]
        assert [i.status for i in library.versions(s, "versions")] == [
            ContentStatus.retired,
            ContentStatus.approved,
        ]


def test_validity_window(db: Database, editors: Editors) -> None:
    item_id = _draft(
        db, editors, valid_from=T0 + timedelta(days=1), valid_until=T0 + timedelta(days=3)
    )
    with db.transaction() as s:
        library.submit(s, item_id, actor_id=editors.alice, now=T0)
        library.approve(s, item_id, actor_id=editors.bob, now=T0)
        assert library.playable_items(s, T0) == []
        assert len(library.playable_items(s, T0 + timedelta(days=2))) == 1
        assert library.playable_items(s, T0 + timedelta(days=3)) == []
    with db.transaction() as s:
        with pytest.raises(InvalidContent, match="after valid_from"):
            library.create_draft(
                s,
                actor_id=editors.alice,
                now=T0,
                slug="backwards",
                title="t",
                topic="fees",
                language="id",
                valid_from=T0,
                valid_until=T0,
            )
    expired = _draft(db, editors, slug="expired", valid_until=T0 - timedelta(hours=1))
    with db.transaction() as s, pytest.raises(InvalidContent, match="expired"):
        library.submit(s, expired, actor_id=editors.alice, now=T0)


def test_bad_fields_are_named(db: Database, editors: Editors) -> None:
    cases = [
        ({"slug": "Bad Slug"}, "slug"),
        ({"topic": "Fees!"}, "topic"),
        ({"language": "indonesian"}, "language"),
        ({"title": ""}, "title"),
    ]
    for override, field in cases:
        fields = {"slug": "ok", "title": "t", "topic": "fees", "language": "id", **override}
        with db.transaction() as s, pytest.raises(InvalidContent, match=field):
            library.create_draft(s, actor_id=editors.alice, now=T0, **fields)
    _draft(db, editors, slug="taken")
    with db.transaction() as s, pytest.raises(InvalidContent, match="exists already"):
        library.create_draft(
            s, actor_id=editors.alice, now=T0, slug="taken", title="t", topic="x", language="id"
        )
    with db.transaction() as s:
        empty = library.create_draft(
            s, actor_id=editors.alice, now=T0, slug="empty", title="t", topic="x", language="jv"
        )
        with pytest.raises(InvalidContent, match="write the message"):
            library.submit(s, empty.id, actor_id=editors.alice, now=T0)
        library.edit_draft(s, empty.id, actor_id=editors.alice, now=T0, body_text="Sugeng")
        with pytest.raises(InvalidContent, match="no synthetic voice for 'jv'"):
            library.submit(s, empty.id, actor_id=editors.alice, now=T0)
        assert library.topics(s) == ["fees", "x"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_uploaded_recording_is_checked_and_converted(
    db: Database, editors: Editors, settings: Settings, tmp_path: Path
) -> None:
    item_id = _draft(db, editors, slug="recorded")
    upload = tone(tmp_path / "upload.ogg", 3.0)
    with db.transaction() as s:
        library.attach_recording(
            s,
            settings,
            item_id,
            upload,
            original_name="Rekaman Bu Sri.ogg",
            actor_id=editors.alice,
            now=T0,
        )
    item = get(db, item_id)
    folder = settings.data_dir / "content" / "recorded" / "v1"
    assert item.audio_path == "content/recorded/v1/phone.sln"
    assert item.radio_audio_path == "content/recorded/v1/radio.wav"
    assert item.duration_s == pytest.approx(3.0, abs=0.05)
    assert sorted(p.name for p in folder.iterdir()) == [
        "original.ogg",
        "phone.gsm",
        "phone.sln",
        "phone.ulaw",
        "radio.wav",
    ]
    # 3 s of 8 kHz 16-bit mono.
    assert (folder / "phone.sln").stat().st_size == pytest.approx(48_000, abs=800)
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=sample_rate,channels",
            "-of",
            "csv=p=0",
            str(folder / "radio.wav"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "44100,1"
    # A recorded item in a language without a synthetic voice can be submitted.
    with db.transaction() as s:
        library.edit_draft(s, item_id, actor_id=editors.alice, now=T0, language="sas")
        library.submit(s, item_id, actor_id=editors.alice, now=T0)
        library.approve(s, item_id, actor_id=editors.bob, now=T0)
        assert s.scalars(select(Job)).all() == []  # nothing to synthesise


@pytest.mark.parametrize("backend", ["sqlite"])
def test_bad_uploads_are_refused_with_the_reason(
    db: Database, editors: Editors, tmp_path: Path, database_url: str
) -> None:
    item_id = _draft(db, editors, slug="bad")
    strict = make_settings(
        tmp_path,
        database_url,
        DESBUMI_RADIO__MAX_RECORDING_S="2",
        DESBUMI_RADIO__MIN_RECORDING_S="0.5",
        DESBUMI_RADIO__MAX_UPLOAD_MB="0.2",
    )
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 20)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    cases = [
        (text, "notes.mp3 is not a recording"),
        (empty, "empty"),
        (tone(tmp_path / "long.flac", 3.0), r"3 s long; the limit is 0 min 02 s"),
        (tone(tmp_path / "short.wav", 0.2), "only 0.2 s"),
        (tone(tmp_path / "big.wav", 1.5, rate=96000), r"MB; the limit is 0 MB"),
    ]
    for path, message in cases:
        with db.transaction() as s, pytest.raises(RecordingRejected, match=message):
            library.attach_recording(
                s, strict, item_id, path, original_name=path.name, actor_id=editors.alice, now=T0
            )
    assert get(db, item_id).audio_path is None


@pytest.mark.parametrize("backend", ["sqlite"])
def test_render_job_gives_text_items_their_radio_audio(
    db: Database, editors: Editors, settings: Settings
) -> None:
    item_id = approved_item(db, editors, "spoken", text="Selamat malam. Ini Kabar Migran.")
    with db.read_session() as s:
        job = s.scalars(select(Job)).one()
    handler = RenderContentHandler(settings, db, SystemClock())
    claimed = ClaimedJob(job.id, job.kind, dict(job.payload), 1, 5, "token")
    effect = handler(claimed)
    assert effect is not None
    with db.transaction() as s:
        effect(s)
    item = get(db, item_id)
    assert item.radio_audio_path == "content/spoken/v1/speech.wav"
    assert item.duration_s is not None and 1.0 < item.duration_s < 6.0
    assert (settings.data_dir / item.radio_audio_path).stat().st_size > 44_100
    # A second run has nothing to do.
    assert handler(claimed) is None


def test_listing(db: Database, editors: Editors) -> None:
    approved_item(db, editors, "a-item", topic="fees")
    _draft(db, editors, slug="b-item")
    with db.transaction() as s:
        latest = library.list_items(s)
        assert [(i.slug, i.status) for i in latest] == [
            ("a-item", ContentStatus.approved),
            ("b-item", ContentStatus.draft),
        ]
        assert [i.slug for i in library.list_items(s, status=ContentStatus.draft)] == ["b-item"]
        assert library.list_items(s, topic="nothing") == []
        assert len(library.list_items(s, language="id", latest_only=False)) == 2
        assert s.scalar(select(ContentItem.id).where(ContentItem.slug == "a-item")) is not None
