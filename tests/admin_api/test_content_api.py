"""The content API on SQLite and PostgreSQL: drafts, four-eyes review, immutability,
new versions, uploads checked with ffprobe, audio with Range, history and audit."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.models import AuditEvent, ContentItem, Job
from tests.admin_api.conftest import World, web_login
from tests.admin_api.radio_world import seed_radio
from tests.broadcasts.conftest import tone

DRAFT = {
    "slug": "dokumen-resmi",
    "title": "Dokumen resmi",
    "topic": "documents",
    "language": "id",
    "body_text": "Urus paspor sendiri.",
}


def _post(client: TestClient, world: World, role: str, path: str, body: object = None):  # type: ignore[no-untyped-def]
    return client.post(path, headers=world.headers(role), json=body)


def test_a_draft_is_approved_by_another_editor_only(world: World, client: TestClient) -> None:
    seed_radio(world)
    created = _post(client, world, "editor", "/api/v1/content", DRAFT)
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["status"], item["version"], item["author"]) == ("draft", 1, "Editor")
    item_id = item["id"]
    edited = client.patch(
        f"/api/v1/content/{item_id}",
        headers=world.headers("editor"),
        json={"title": "Dokumen resmi untuk bekerja", "priority": True},
    )
    assert edited.status_code == 200 and edited.json()["priority"] is True
    submitted = _post(client, world, "editor", f"/api/v1/content/{item_id}/submit")
    assert submitted.json()["status"] == "in_review"
    assert submitted.json()["can_approve"] is False  # her own version

    own = _post(client, world, "editor", f"/api/v1/content/{item_id}/approve")
    assert own.status_code == 403 and own.json()["code"] == "not_permitted"
    other = client.get(f"/api/v1/content/{item_id}", headers=world.headers("editor2"))
    assert other.json()["can_approve"] is True
    approved = _post(client, world, "editor2", f"/api/v1/content/{item_id}/approve")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["immutable"] is True
    assert body["on_air_version"] == 1 and body["approved_by_id"] == world.ids["editor2"]

    # Approved versions never change; a new version is a draft copy.
    patch = client.patch(
        f"/api/v1/content/{item_id}", headers=world.headers("editor2"), json={"title": "x"}
    )
    assert patch.status_code == 409 and patch.json()["code"] == "content_immutable"
    v2 = _post(client, world, "editor2", f"/api/v1/content/{item_id}/versions")
    assert v2.status_code == 201
    assert (v2.json()["version"], v2.json()["status"]) == (2, "draft")
    assert v2.json()["on_air_version"] == 1
    assert [v["status"] for v in v2.json()["versions"]] == ["approved", "draft"]
    again = _post(client, world, "editor2", f"/api/v1/content/{item_id}/versions")
    assert again.status_code == 409 and again.json()["code"] == "content_state"

    history = client.get(f"/api/v1/content/{item_id}/history", headers=world.headers("admin"))
    assert [(h["actor"], h["action"]) for h in history.json()] == [
        ("Editor", "content.create"),
        ("Editor", "content.edit"),
        ("Editor", "content.submit"),
        ("Rina", "content.approve"),
    ]
    with world.db.read_session() as s:
        now = world.clock.now()
        playable = s.scalars(select(ContentItem.slug).where(ContentItem.playable_at(now))).all()
        assert playable == ["dokumen-resmi"]
        approvals = s.scalar(
            select(func.count()).where(
                AuditEvent.action == "content.approve", AuditEvent.object_id == str(item_id)
            )
        )
        assert approvals == 1  # written by the library, not again by the API
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "content.approve")).one()
        assert (event.source, event.details["via"]) == ("testclient", "token")
        assert s.scalar(select(func.count()).select_from(Job)) == 1  # the render job


def test_reject_needs_a_comment_and_sends_it_back(world: World, client: TestClient) -> None:
    seed_radio(world)
    item_id = world.ids["item"]
    empty = _post(client, world, "editor", f"/api/v1/content/{item_id}/reject", {"comment": ""})
    assert empty.status_code == 422
    rejected = _post(
        client, world, "editor", f"/api/v1/content/{item_id}/reject", {"comment": "Sebut BP2MI."}
    )
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["review_comment"]) == (
        "draft",
        "Sebut BP2MI.",
    )
    # Her draft, sent back with a comment, now leads her list.
    rows = client.get("/api/v1/content", headers=world.headers("editor2")).json()
    assert rows[0]["id"] == item_id and rows[0]["review_comment"] == "Sebut BP2MI."
    retired = _post(client, world, "editor2", f"/api/v1/content/{item_id}/retire", {"reason": "x"})
    assert retired.json()["status"] == "retired" and retired.json()["immutable"] is True


def test_the_list_shows_what_needs_my_review_first(world: World, client: TestClient) -> None:
    seed_radio(world)
    mine = _post(client, world, "editor", "/api/v1/content", DRAFT).json()
    world.clock.advance(minutes=5)
    rows = client.get("/api/v1/content", headers=world.headers("editor")).json()
    assert [r["id"] for r in rows] == [world.ids["item"], mine["id"]]
    assert rows[0]["can_approve"] is True and rows[1]["can_approve"] is False
    # For the author of the item in review, it is not hers to review.
    rina = client.get("/api/v1/content", headers=world.headers("editor2")).json()
    assert all(r["can_approve"] is False for r in rina if r["id"] == world.ids["item"])

    def found(query: str) -> list[str]:
        response = client.get(f"/api/v1/content?{query}", headers=world.headers("admin"))
        assert response.status_code == 200, response.text
        return sorted(r["slug"] for r in response.json())

    assert found("status=draft") == ["dokumen-resmi"]
    assert found("status=in_review") == ["jangan-bayar-calo"]
    assert found("topic=fees") == ["jangan-bayar-calo"]
    assert found("language=ms") == []
    assert (
        client.get("/api/v1/content?status=nonsense", headers=world.headers("admin")).status_code
        == 422
    )


def test_bad_fields_are_refused_with_the_field_named(world: World, client: TestClient) -> None:
    cases = [
        ({**DRAFT, "slug": "Bad Slug"}, "slug:"),
        ({**DRAFT, "valid_from": "2026-12-01T10:00:00"}, "valid_from:"),
        (
            {**DRAFT, "valid_from": "2026-12-02T10:00:00Z", "valid_until": "2026-12-01T10:00:00Z"},
            "valid_until:",
        ),
        ({**DRAFT, "title": "   "}, "title:"),
    ]
    for body, field in cases:
        response = _post(client, world, "editor", "/api/v1/content", body)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_content"
        assert response.json()["message"].startswith(field)
    ok = _post(client, world, "editor", "/api/v1/content", DRAFT)
    assert ok.status_code == 201
    dup = _post(client, world, "editor", "/api/v1/content", DRAFT)
    assert dup.status_code == 422 and "exists already" in dup.json()["message"]
    item_id = ok.json()["id"]
    # No text and no recording: nothing to submit.
    client.patch(
        f"/api/v1/content/{item_id}", headers=world.headers("editor"), json={"body_text": ""}
    )
    refused = _post(client, world, "editor", f"/api/v1/content/{item_id}/submit")
    assert refused.status_code == 422 and refused.json()["message"].startswith("body_text:")
    assert client.get("/api/v1/content/99", headers=world.headers("editor")).status_code == 404


def test_uploads_are_checked_and_played_with_range(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    item_id = _post(
        client, world, "editor", "/api/v1/content", {**DRAFT, "language": "sas", "body_text": ""}
    ).json()["id"]
    url = f"/api/v1/content/{item_id}/recording"
    headers = world.headers("editor")
    # A language without a synthetic voice and no recording: nothing to hear yet.
    assert client.get(f"/api/v1/content/{item_id}/audio", headers=headers).status_code == 404

    junk = tmp_path / "notes.mp3"
    junk.write_text("this is not audio at all\n" * 20)
    with junk.open("rb") as f:
        refused = client.put(url, headers=headers, files={"file": ("notes.mp3", f, "audio/mpeg")})
    assert refused.status_code == 422 and refused.json()["code"] == "recording_rejected"
    assert "notes.mp3" in refused.json()["message"]
    short = tone(tmp_path / "short.wav", 0.3)
    with short.open("rb") as f:
        too_short = client.put(url, headers=headers, files={"file": ("short.wav", f, "audio/wav")})
    assert too_short.status_code == 422 and "only 0.3 s" in too_short.json()["message"]

    ogg = tone(tmp_path / "pesan.ogg", 2.0)
    with ogg.open("rb") as f:
        stored = client.put(url, headers=headers, files={"file": ("pesan.ogg", f, "audio/ogg")})
    assert stored.status_code == 200, stored.text
    assert stored.json()["has_recording"] is True
    assert 1.9 < stored.json()["duration_s"] < 2.1
    whole = client.get(f"/api/v1/content/{item_id}/audio", headers=headers)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/mpeg"
    part = client.get(
        f"/api/v1/content/{item_id}/audio", headers={**headers, "Range": "bytes=0-99"}
    )
    assert part.status_code == 206 and part.content == whole.content[:100]
    submitted = _post(client, world, "editor", f"/api/v1/content/{item_id}/submit")
    assert submitted.status_code == 200  # a recording stands in for the missing voice

    removed_too_late = client.delete(url, headers=headers)
    assert (
        removed_too_late.status_code == 409 and removed_too_late.json()["code"] == "content_state"
    )
    actions = [h["action"] for h in submitted.json()["history"]]
    assert actions == ["content.create", "content.recording", "content.submit"]
    assert not list((world.settings.data_dir / "tmp").iterdir())  # staged uploads removed


def test_a_drafts_text_can_be_heard_before_it_is_submitted(
    world: World, client: TestClient
) -> None:
    item_id = _post(client, world, "editor", "/api/v1/content", DRAFT).json()["id"]
    audio = client.get(f"/api/v1/content/{item_id}/audio", headers=world.headers("editor"))
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    assert audio.content[:3] == b"ID3" or audio.content[:2] == b"\xff\xfb"
    assert len(audio.content) > 4000  # more than half a second at 64 kb/s


def test_what_the_database_cannot_hold_is_a_422(world: World, client: TestClient) -> None:
    """PostgreSQL refuses NUL characters and years its UTC conversion cannot reach: such
    input is refused at the edge on both databases, never a server error."""
    seed_radio(world)
    admin = world.headers("admin")
    bodies = [
        {**DRAFT, "title": "a\x00b"},
        {**DRAFT, "body_text": "a\x00b"},
        {**DRAFT, "valid_from": "0001-01-01T00:00:00+01:00"},
        {**DRAFT, "valid_until": "9999-12-31T23:59:59-01:00"},
        {**DRAFT, "valid_from": "1900-01-01T00:00:00Z"},
    ]
    for body in bodies:
        assert _post(client, world, "admin", "/api/v1/content", body).status_code == 422
    station = {"slug": "radio-x", "name": "a\x00", "timezone": "WIB"}
    assert client.post("/api/v1/stations", headers=admin, json=station).status_code == 422
    item = world.ids["item"]
    assert (
        _post(
            client, world, "admin", f"/api/v1/content/{item}/reject", {"comment": "\x00"}
        ).status_code
        == 422
    )
    assert client.get("/api/v1/content?topic=a%00", headers=admin).status_code == 422
    assert (
        client.put("/api/v1/stations/radio-lotim/programmes/a%00b", headers=admin).status_code
        == 422
    )
    csrf = web_login(client, "editor")
    form = {**DRAFT, "title": "a\x00b", "csrf_token": csrf}
    assert client.post("/content", data=form).status_code == 422
    form = {**DRAFT, "valid_from": "0001-01-01T00:00", "csrf_token": csrf}
    page = client.post("/content", data=form)
    assert page.status_code == 422 and "valid_from:" in page.text
