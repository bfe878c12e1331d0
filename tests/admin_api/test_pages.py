"""The pages, rendered by the real app: inbox, case page, queues, and the catalogue."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources

from fastapi.testclient import TestClient
from sqlalchemy import select

from admin_api.i18n import Translator, negotiate
from admin_api.messages import CATALOGUE
from admin_api.routes.web_queues import reason_key
from core.models import AuditEvent, CallbackRequest, Caller, Case, Recording
from core.states import (
    CallbackSource,
    CallbackState,
    CaseStatus,
    ReferralKind,
    TranscriptionStatus,
    Urgency,
)
from ivr.callbacks import REASONS, failure_reason
from tests.admin_api.conftest import CALLER_NUMBER, PASSWORD, World, csrf_of, web_login
from transcription.triage import Indicator

# A whole key (``_("x.y")`` or ``_("x.y", n=1)``), not a prefix joined with ``~``.
KEY = re.compile(r"""_\(\s*["']([a-z_]+\.[a-z_.]+)["']\s*[,)]""")


def test_every_key_used_in_a_template_exists_in_both_languages() -> None:
    used = set()
    for template in resources.files("admin_api").joinpath("templates").iterdir():
        used |= set(KEY.findall(template.read_text(encoding="utf-8")))
    dynamic = (
        {f"status.{s}" for s in CaseStatus}
        | {f"urgency.{u}" for u in Urgency}
        | {f"indicator.{i}" for i in Indicator}
        | {f"referral.{k}" for k in ReferralKind}
        | {f"transcription.{t}" for t in TranscriptionStatus if t != "done"}
        | {f"account.done_{d}" for d in ("password", "sessions", "token")}
    )
    missing = sorted(k for k in used | dynamic if k not in CATALOGUE)
    assert missing == []
    assert all(idn and en for idn, en in CATALOGUE.values())


def test_language_negotiation() -> None:
    assert negotiate("", "", "en-US,en;q=0.9,id;q=0.8", "id") == "en"
    assert negotiate("", "", "fr, id;q=0.5, en;q=0.4", "id") == "id"
    assert negotiate("", "en", "id", "id") == "en"
    assert negotiate("id", "en", "en", "en") == "id"
    assert negotiate("", "", "de;q=x", "id") == "id"
    assert Translator("en")("age.hours", n=3) == "3 h ago"
    assert Translator("xx")("nav.cases") == "Kasus"
    assert Translator("en")("no.such.key") == "no.such.key"


def test_inbox_page_shows_why_each_case_is_urgent(world: World, client: TestClient) -> None:
    web_login(client, "siti")
    page = client.get("/cases").text
    assert page.index("Pringgasela") < page.index("desa belum diketahui")
    assert "kekerasan fisik: “dipukul” (1.0 s)" in page
    with world.db.transaction() as s:
        case = s.get(Case, world.ids["nowhere"])
        assert case is not None
        case.indicators = [{"indicator": "withholding_of_wages", "phrase": "keypad: unpaid_wages"}]
    assert "gaji tidak dibayar (dipilih dengan tombol telepon)" in client.get("/cases").text
    assert "kritis" in page
    assert "Dukuhdempok" not in page.split("<table")[1]
    filtered = client.get("/cases?indicator=physical_violence&assignee=none&status=open").text
    assert filtered.count('class="case-row"') == 1
    assert client.get("/cases?status=closed").text.count('class="case-row"') == 0


def test_case_page_transcript_marks_and_actions(world: World, client: TestClient) -> None:
    csrf = web_login(client, "siti")
    case = world.ids["inside"]
    page = client.get(f"/cases/{case}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["content-encoding"] == "gzip"  # small over a slow connection
    assert "script-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert (
        'class="w hit" data-start="1.0" data-end="1.4" data-indicator="physical_violence">dipukul'
        in html
    )
    assert 'class="w low"' in html and ">majikan<" in html
    assert 'data-seek="1.0"' in html
    assert f'src="/api/v1/cases/{case}/recordings/{world.ids["recording"]}/audio"' in html
    assert "+62 ••• ••• 7890" in html and CALLER_NUMBER not in html
    # Actions through the forms, each followed by the page again.
    response = client.post(
        f"/cases/{case}/transcript",
        data={
            "recording_id": world.ids["recording"],
            "text": "saya dipukul dan dikurung",
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 200 and "Transkrip disimpan" in response.text
    assert "saya dipukul dan dikurung" in response.text
    response = client.post(
        f"/cases/{case}/referrals",
        data={"kind": "shelter", "organisation": "P2TP2A Lombok Timur", "csrf_token": csrf},
    )
    assert "Rujukan disimpan" in response.text and "dirujuk" in response.text
    response = client.post(
        f"/cases/{case}/follow-ups",
        data={"description": "telepon lagi", "due_on": "2026-11-30", "csrf_token": csrf},
    )
    assert "telepon lagi" in response.text
    for path, data in (
        ("indicators", {"indicator": ["physical_violence", "restriction_of_movement"]}),
        ("urgency", {"urgency": "high", "reason": "checked"}),
        ("assignee", {"user_id": str(world.ids["case_worker"])}),
        ("notes", {"body": "catatan"}),
        ("status", {"status": "follow_up"}),
        ("village", {"village_id": str(world.ids["village_in"])}),
    ):
        response = client.post(f"/cases/{case}/{path}", data={**data, "csrf_token": csrf})
        assert response.status_code == 200, (path, response.text[-400:])
    assert "tindak lanjut" in response.text
    revealed = client.post(f"/cases/{case}/caller-number", data={"csrf_token": csrf})
    assert CALLER_NUMBER in revealed.text
    bad = client.post(f"/cases/{case}/status", data={"status": "new", "csrf_token": csrf})
    assert bad.status_code == 409 and "tidak diizinkan" in bad.text
    missing = client.post(f"/cases/{case}/referrals", data={"csrf_token": csrf})
    assert missing.status_code == 422
    assert client.get(f"/cases/{world.ids['outside']}").status_code == 404
    follow_ups = client.get("/follow-ups?overdue=true").text
    assert "telepon lagi" not in follow_ups
    world.clock.advance(days=30)
    web_login(client, "siti")
    assert "telepon lagi" in client.get("/follow-ups?overdue=true").text


def test_case_page_tells_the_truth_about_transcription(world: World, client: TestClient) -> None:
    web_login(client, "siti")
    case = world.ids["nowhere"]
    expected = {
        TranscriptionStatus.awaiting_model: (
            "Tidak ada transkrip otomatis: dengarkan, atau ketik transkripnya."
        ),
        TranscriptionStatus.unreadable: "Rekaman tidak dapat dibaca.",
        TranscriptionStatus.pending: "Sedang ditranskripsi",
    }
    for status, text in expected.items():
        with world.db.transaction() as s:
            for old in s.scalars(select(Recording).where(Recording.case_id == case)):
                s.delete(old)
            s.add(
                Recording(
                    case_id=case,
                    path="recordings/r1.wav",
                    format="wav",
                    sha256="0" * 64,
                    transcription=status,
                    created_at=world.clock.now(),
                )
            )
        page = client.get(f"/cases/{case}").text
        assert text in page, status


def test_every_callback_failure_reason_has_words() -> None:
    # The dialer writes these; the callback queue page looks each one up in the catalogue.
    for reason in REASONS.values():
        assert failure_reason(f"{reason} after 3 attempts") == reason
        assert reason_key(reason) in CATALOGUE, reason
    assert failure_reason("the number does not decrypt with this secret key") is None
    assert failure_reason(None) is None


def test_callback_queue(world: World, client: TestClient) -> None:
    now = world.clock.now()
    with world.db.transaction() as s:
        caller = s.get(Caller, world.ids["caller"])
        assert caller is not None
        for source, state in (
            (CallbackSource.menu, CallbackState.pending),
            (CallbackSource.missed_call, CallbackState.failed),
            (CallbackSource.missed_call, CallbackState.pending),  # the dialer's, not a person's
        ):
            s.add(
                CallbackRequest(
                    caller_id=caller.id,
                    phone_hash=caller.phone_hash,
                    source=source,
                    state=state,
                    attempts=3 if state is CallbackState.failed else 0,
                    # as the dialer leaves it when her phone was busy at the last attempt
                    last_error="busy after 3 attempts" if state is CallbackState.failed else None,
                    preferred_time="morning",
                    due_at=now,
                    created_at=now - timedelta(hours=1),
                    updated_at=now,
                )
            )
    csrf = web_login(client, "siti")
    page = client.get("/callbacks").text
    assert page.count('id="callback-') == 2
    assert "3 kali ditelepon, terakhir: sedang sibuk" in page and "pagi" in page
    ids = [int(i) for i in re.findall(r'id="callback-(\d+)"', page)]
    shown = client.post(f"/callbacks/{ids[0]}/number", data={"csrf_token": csrf}).text
    assert CALLER_NUMBER in shown
    client.post(f"/callbacks/{ids[0]}/done", data={"csrf_token": csrf})
    client.post(f"/callbacks/{ids[1]}/cancel", data={"csrf_token": csrf})
    assert 'id="callback-' not in client.get("/callbacks").text
    api = client.get("/api/v1/callbacks", headers=world.headers("admin")).json()
    assert api == []
    again = client.post(f"/api/v1/callbacks/{ids[0]}/done", headers=world.headers("admin"))
    assert again.status_code == 409
    with world.db.read_session() as s:
        rows = {r.id: r for r in s.scalars(select(CallbackRequest))}
        assert (
            rows[ids[0]].state is CallbackState.answered and rows[ids[0]].handled_outcome == "done"
        )
        assert (
            rows[ids[1]].state is CallbackState.failed
            and rows[ids[1]].handled_outcome == "cancelled"
        )
        actions = {e.action for e in s.scalars(select(AuditEvent))}
    assert {"callback.done", "callback.cancelled", "caller.reveal"} <= actions
    # Dewi covers Jember; this caller has no home village, so she sees the queue too,
    # but an editor never does.
    assert client.get("/api/v1/callbacks", headers=world.headers("editor")).status_code == 403


def test_a_callers_number_is_shown_only_while_she_waits(world: World, client: TestClient) -> None:
    now = world.clock.now()
    ids = {}
    with world.db.transaction() as s:
        caller = s.get(Caller, world.ids["caller"])
        assert caller is not None
        for name, source, state in (
            ("waiting", CallbackSource.menu, CallbackState.pending),
            ("dialer", CallbackSource.missed_call, CallbackState.pending),  # not a person's yet
            ("done", CallbackSource.menu, CallbackState.pending),
            ("cancelled", CallbackSource.missed_call, CallbackState.failed),
        ):
            row = CallbackRequest(
                caller_id=caller.id,
                phone_hash=caller.phone_hash,
                source=source,
                state=state,
                due_at=now,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            ids[name] = row.id
    for name, outcome in (("done", "done"), ("cancel", "cancelled")):
        target = ids["done" if name == "done" else "cancelled"]
        response = client.post(f"/api/v1/callbacks/{target}/{name}", headers=world.headers("admin"))
        assert response.status_code == 200 and response.json()["handled_outcome"] == outcome

    def reveal(request_id: int, role: str = "case_worker") -> int:
        response = client.post(
            f"/api/v1/callbacks/{request_id}/number", headers=world.headers(role)
        )
        assert CALLER_NUMBER not in response.text or response.status_code == 200
        return response.status_code

    assert reveal(ids["waiting"]) == 200
    assert reveal(ids["waiting"], "editor") == 403
    for name in ("dialer", "done", "cancelled"):
        assert reveal(ids[name]) == 409, name
        assert reveal(ids[name], "admin") == 409, name
    csrf = web_login(client, "siti")
    page = client.post(f"/callbacks/{ids['done']}/number", data={"csrf_token": csrf})
    assert page.status_code == 409 and CALLER_NUMBER not in page.text
    with world.db.read_session() as s:
        reveals = s.scalars(select(AuditEvent).where(AuditEvent.action == "caller.reveal")).all()
    assert [e.object_id for e in reveals] == [str(ids["waiting"])]


def test_audit_log_page_for_admins(world: World, client: TestClient) -> None:
    client.get(f"/api/v1/cases/{world.ids['inside']}", headers=world.headers("case_worker"))
    web_login(client, "admin")
    page = client.get("/audit?action=case.read")
    assert page.status_code == 200
    assert f'href="/cases/{world.ids["inside"]}"' in page.text and "siti" in page.text
    rows = client.get("/api/v1/audit?action=case.", headers=world.headers("admin")).json()
    assert rows[0]["action"] == "case.read.case" and rows[0]["source"] == "testclient"


def test_admins_manage_users(world: World, client: TestClient) -> None:
    csrf = web_login(client, "admin")
    page = client.post(
        "/users",
        data={
            "username": "rina",
            "role": "case_worker",
            "full_name": "Rina",
            "district": ["3509"],
            "csrf_token": csrf,
        },
    )
    assert page.status_code == 200
    password = re.search(r'class="number password">([^<]+)<', page.text)
    assert password, page.text[-500:]
    duplicate = client.post(
        "/users", data={"username": "rina", "role": "editor", "csrf_token": csrf}
    )
    assert duplicate.status_code == 409
    # She logs in with the password shown once; then the admin deactivates her.
    other = TestClient(client.app)
    web_login(other, "rina", password.group(1))
    assert "Dukuhdempok" in other.get("/cases").text
    rows = client.get("/api/v1/users", headers=world.headers("admin")).json()
    rina = next(u for u in rows if u["username"] == "rina")
    assert rina["districts"] == ["3509"] and rina["role"] == "case_worker"
    client.post(f"/users/{rina['id']}/active", data={"active": "false", "csrf_token": csrf})
    assert other.get("/cases", follow_redirects=False).status_code == 303
    reset = client.post(
        f"/api/v1/users/{world.ids['case_worker']}/password", headers=world.headers("admin")
    )
    assert reset.status_code == 200 and len(reset.json()["password"]) >= 20
    # Her tokens were revoked with the new password.
    assert client.get("/api/v1/cases", headers=world.headers("case_worker")).status_code == 401
    assert (
        client.put(
            f"/api/v1/users/{world.ids['admin']}/active",
            json={"active": False},
            headers=world.headers("admin"),
        ).status_code
        == 409
    )
    with world.db.read_session() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent))]
    assert {"user.create", "user.deactivate", "user.set_password"} <= set(actions)


def test_editors_land_on_their_own_page(world: World, client: TestClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "editor", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "Selamat datang" in home.text
    assert client.get("/cases").status_code == 403
