"""The pages in a real headless Chromium (Debian's, driven by Playwright) against a real
HTTP server: log in, open the most urgent case, play its audio, click a word to seek,
correct the transcript, and refer the case."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select

from admin_api.app import create_app
from core import migrate
from core.db import Database
from core.models import AuditEvent, Case, Referral, Transcript
from core.states import CaseStatus, ReferralKind
from tests.admin_api.conftest import PASSWORD, T0, MovableClock, World, seed_world
from tests.conftest import make_settings

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, World]]:
    """The app on a real port of 127.0.0.1 (SQLite), served by uvicorn on a thread."""
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    db = Database.from_settings(settings)
    migrate.upgrade(db)
    from datetime import timedelta

    world = seed_world(settings, db, MovableClock(T0 + timedelta(days=1)))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, db, "browser", clock=world.clock),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", world
    finally:
        server.should_exit = True
        thread.join(10)
        db.dispose()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), "install Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # bypass_csp: Playwright evaluates its wait conditions as strings, which the pages'
        # CSP (rightly) forbids; the CSP header itself is checked in test_pages.
        context = browser.new_context(
            locale="id-ID", viewport={"width": 390, "height": 844}, bypass_csp=True
        )
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        yield tab
        context.close()
        browser.close()


def test_case_worker_works_the_most_urgent_case(live: tuple[str, World], page: Page) -> None:
    base, world = live
    page.goto(f"{base}/cases")
    # Not logged in: the login page, in Bahasa Indonesia.
    expect(page.locator("h1")).to_have_text("Masuk")
    page.fill("input[name=username]", "siti")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]:has-text('Masuk')")
    expect(page.locator("h1")).to_have_text("Kotak masuk kasus")
    first = page.locator("tr.case-row").first
    assert first.get_attribute("data-urgency") == "critical"
    expect(first).to_contain_text("kekerasan fisik")
    first.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text("kritis")

    # Play the recording, then click a word to hear that moment.
    audio = page.locator("audio").first
    page.wait_for_function("document.querySelector('audio').readyState >= 1")
    duration = audio.evaluate("a => a.duration")
    assert 1.9 < duration < 2.1
    page.locator(".transcript .w.hit").first.click()
    page.wait_for_function("!document.querySelector('audio').paused")
    page.wait_for_function("document.querySelector('audio').currentTime > 0.85")
    expect(page.locator(".transcript .w.low")).to_have_text("majikan")

    # Correct the transcript.
    page.locator("details summary:has-text('Koreksi transkrip')").click()
    page.fill("textarea[name=text]", "saya dipukul majikan dan tidak boleh keluar rumah")
    page.click("button:has-text('Simpan transkrip')")
    expect(page.locator("p.ok")).to_contain_text("Transkrip disimpan")
    expect(page.locator("p.corrected")).to_have_text(
        "saya dipukul majikan dan tidak boleh keluar rumah"
    )

    # Refer the case to a shelter.
    page.locator("#referrals select[name=kind]").select_option("shelter")
    page.fill("#referrals input[name=organisation]", "P2TP2A Lombok Timur")
    page.fill("#referrals input[name=contact]", "petugas piket")
    page.click("button:has-text('Simpan rujukan')")
    expect(page.locator("p.ok")).to_contain_text("Rujukan disimpan")
    expect(page.locator("#referrals")).to_contain_text("P2TP2A Lombok Timur")

    with world.db.read_session() as s:
        case = s.get(Case, world.ids["inside"])
        assert case is not None and case.status is CaseStatus.referred
        assert "restriction_of_movement" in {i["indicator"] for i in case.indicators}
        referral = s.scalars(select(Referral)).one()
        assert referral.kind is ReferralKind.shelter
        transcript = s.scalars(select(Transcript)).one()
        assert transcript.text == "saya dipukul majikan"  # the machine's, kept
        actions = {e.action for e in s.scalars(select(AuditEvent))}
    assert {"auth.login", "case.read.case", "case.read.audio", "case.referral_add"} <= actions
