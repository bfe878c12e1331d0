"""The content pages through the real app and its forms, on SQLite and PostgreSQL: the
list, a draft written and refused without losing what was typed, review with four eyes,
uploads with the library's errors shown, CSRF on every form, both languages."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admin_api.messages import CATALOGUE
from core.models import ContentItem
from core.states import ContentStatus, SegmentStatus
from tests.admin_api.conftest import World, csrf_of, web_login
from tests.admin_api.radio_world import seed_radio
from tests.broadcasts.conftest import tone

FORM = {
    "slug": "biaya-resmi",
    "title": "Biaya resmi",
    "topic": "fees",
    "language": "id",
    "body_text": "Tidak ada biaya untuk pelatihan.",
    "valid_from": "2026-11-01T08:00",
    "valid_until": "",
}


def test_dynamic_keys_of_the_content_and_radio_pages_exist() -> None:
    keys = (
        [f"content_status.{s}" for s in ContentStatus]
        + [f"segment.{s}" for s in SegmentStatus]
        + ["segment.unplanned"]
        + [f"content_done.{d}" for d in ("created", "saved", "recording", "submitted")]
        + [f"content_done.{d}" for d in ("approved", "rejected", "retired", "new_version")]
        + ["content_done.recording_removed", "segment_done.replan", "segment_done.unchanged"]
        + ["segment_done.reassemble", "station_done.attach", "station_done.detach"]
        + ["station_done.deactivate"]
        + [f"day.{d}" for d in ("mo", "tu", "we", "th", "fr", "sa", "su")]
        + [f"cue.{c}" for c in ("jingle", "intro", "outro", "item")]
        + [f"history.content.{a}" for a in ("create", "edit", "recording", "submit")]
        + [f"history.content.{a}" for a in ("approve", "reject", "retire", "new_version")]
    )
    assert [k for k in keys if k not in CATALOGUE] == []


def test_an_editor_writes_a_draft_and_a_wrong_field_loses_nothing(
    world: World, client: TestClient
) -> None:
    csrf = web_login(client, "editor")
    home = client.get("/content/new")
    assert home.status_code == 200 and 'action="/content"' in home.text
    assert ">Kasus<" not in home.text and 'href="/content"' in home.text  # her navigation
    wrong = client.post("/content", data={**FORM, "slug": "Biaya Resmi!", "csrf_token": csrf})
    assert wrong.status_code == 422
    assert "Isian belum benar" in wrong.text and 'aria-invalid="true"' in wrong.text
    assert 'value="Biaya Resmi!"' in wrong.text and "Tidak ada biaya untuk pelatihan." in wrong.text
    with world.db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 0

    made = client.post("/content", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    assert made.status_code == 303
    page = client.get(made.headers["location"])
    assert "Draf disimpan." in page.text and "Kirim untuk ditinjau" in page.text
    assert 'value="2026-11-01T08:00"' in page.text  # the window, in the installation's zone
    item_id = int(made.headers["location"].split("/")[2].split("?")[0])
    with world.db.read_session() as s:
        item = s.get(ContentItem, item_id)
        assert item is not None and item.valid_from is not None
        assert item.valid_from.isoformat() == "2026-11-01T01:00:00+00:00"  # 08:00 WIB

    # An edit with a window that ends before it starts: shown again, nothing changed.
    bad = client.post(
        f"/content/{item_id}/edit",
        data={**FORM, "title": "Judul baru", "valid_until": "2026-10-01T08:00", "csrf_token": csrf},
    )
    assert bad.status_code == 422 and 'value="Judul baru"' in bad.text
    with world.db.read_session() as s:
        item = s.get(ContentItem, item_id)
        assert item is not None and item.title == "Biaya resmi"
    good = client.post(
        f"/content/{item_id}/edit",
        data={**FORM, "title": "Judul baru", "priority": "on", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert good.status_code == 303
    with world.db.read_session() as s:
        item = s.get(ContentItem, item_id)
        assert item is not None and (item.title, item.priority) == ("Judul baru", True)


def test_review_with_four_eyes_on_the_pages(world: World, client: TestClient) -> None:
    seed_radio(world)
    item_id = world.ids["item"]
    rina = web_login(client, "rina")
    own = client.get(f"/content/{item_id}").text
    assert f'action="/content/{item_id}/approve"' not in own
    assert "editor lain yang harus menyetujuinya" in own
    refused = client.post(f"/content/{item_id}/approve", data={"csrf_token": rina})
    assert refused.status_code == 403 and "four eyes" in refused.text

    client.cookies.clear()
    csrf = web_login(client, "editor")
    assert "1 konten menunggu tinjauan Anda." in client.get("/").text  # her front page
    listing = client.get("/content").text
    assert "1 konten menunggu tinjauan Anda." in listing
    assert 'class="content-row review"' in listing
    page = client.get(f"/content/{item_id}").text
    assert f'action="/content/{item_id}/approve"' in page
    no_comment = client.post(f"/content/{item_id}/reject", data={"comment": "", "csrf_token": csrf})
    assert no_comment.status_code == 422 and "comment:" in no_comment.text
    done = client.post(f"/content/{item_id}/approve", data={"csrf_token": csrf})
    assert done.status_code == 200 and "Disetujui:" in done.text
    assert "tidak dapat diubah" in done.text and 'name="title"' not in done.text
    assert "Versi ini diputar di hotline dan radio sekarang." in done.text
    assert "<strong>Rina</strong> · membuat draf" in done.text
    assert "<strong>Editor</strong> · menyetujui" in done.text

    version = client.post(f"/content/{item_id}/new-version", data={"csrf_token": csrf})
    assert "Versi baru dibuat sebagai draf." in version.text and "versi 2" in version.text
    english = client.post(
        "/language", data={"language": "en", "next": "/content", "csrf_token": csrf}
    )
    assert "Content library" in english.text and "draft" in english.text


def test_every_content_form_needs_its_csrf_token(world: World, client: TestClient) -> None:
    seed_radio(world)
    item_id = world.ids["item"]
    web_login(client, "editor")
    forms = [
        ("/content", FORM),
        (f"/content/{item_id}/edit", FORM),
        (f"/content/{item_id}/recording/remove", {}),
        (f"/content/{item_id}/submit", {}),
        (f"/content/{item_id}/approve", {}),
        (f"/content/{item_id}/reject", {"comment": "x"}),
        (f"/content/{item_id}/retire", {}),
        (f"/content/{item_id}/new-version", {}),
        (f"/segments/{world.ids['segment']}/replan", {}),
        (f"/segments/{world.ids['segment']}/reassemble", {}),
    ]
    for path, data in forms:
        for token in ("", "0" * 64):
            response = client.post(path, data={**data, "csrf_token": token})
            assert response.status_code == 403, path
            assert "Formulir sudah kedaluwarsa" in response.text
    with world.db.read_session() as s:
        item = s.get(ContentItem, item_id)
        assert item is not None and item.status is ContentStatus.in_review


def test_an_upload_the_library_refuses_is_shown_on_the_page(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    csrf = web_login(client, "editor")
    made = client.post("/content", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    item_url = made.headers["location"].split("?")[0]
    junk = tmp_path / "rekaman.m4a"
    junk.write_bytes(b"\x00\x01not a sound" * 100)
    with junk.open("rb") as f:
        refused = client.post(
            f"{item_url}/recording",
            data={"csrf_token": csrf},
            files={"file": ("rekaman.m4a", f, "audio/mp4")},
        )
    assert refused.status_code == 422
    assert 'id="upload-error"' in refused.text and "rekaman.m4a" in refused.text
    wav = tone(tmp_path / "pesan.wav", 1.5)
    with wav.open("rb") as f:
        stored = client.post(
            f"{item_url}/recording",
            data={"csrf_token": csrf},
            files={"file": ("pesan.wav", f, "audio/wav")},
        )
    assert stored.status_code == 200 and "Rekaman diunggah dan diperiksa." in stored.text
    assert "rekaman yang diunggah" in stored.text and "Hapus rekaman" in stored.text
    # The upload form carries the CSRF token in the multipart body.
    page = client.get(item_url).text
    assert 'enctype="multipart/form-data"' in page and csrf_of(page) == csrf
