"""The content pages in real headless Chromium (Debian's, driven by Playwright) on a phone
-sized screen: one editor writes a message, hears it and submits it; a second editor
approves it; it is then playable on the hotline and the radio (``ContentItem.playable_at``).
Then a segment is played from the radio page."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from broadcasts import library
from core.models import AuditEvent, ContentItem
from core.states import ContentStatus
from tests.admin_api.conftest import PASSWORD, World
from tests.admin_api.radio_world import seed_radio
from tests.admin_api.test_browser import live, page  # noqa: F401 - the fixtures

Live = tuple[str, World]


def _log_in(page: Page, username: str) -> None:  # noqa: F811 - not the fixture
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]:has-text('Masuk')")


def test_two_editors_take_a_message_to_air(live: Live, page: Page) -> None:  # noqa: F811
    base, world = live
    seed_radio(world)
    page.goto(f"{base}/content")
    _log_in(page, "editor")
    expect(page.locator("h1")).to_have_text("Konten informasi")
    page.click("text=Tulis konten baru")
    page.fill("input[name=title]", "Paspor sendiri!")
    # The slug is suggested from the title (a few lines of JavaScript).
    expect(page.locator("input[name=slug]")).to_have_value("paspor-sendiri")
    page.fill("input[name=topic]", "documents")
    page.fill("textarea[name=body_text]", "Urus paspor sendiri.")
    page.click("button:has-text('Simpan draf')")
    expect(page.locator("p.ok")).to_have_text("Draf disimpan.")

    # Hear the draft as the radio will say it (synthesised on the first request).
    page.evaluate("document.querySelector('#audio audio').play()")
    page.wait_for_function("document.querySelector('#audio audio').readyState >= 1")
    assert page.evaluate("document.querySelector('#audio audio').duration") > 0.5
    page.wait_for_function("!document.querySelector('#audio audio').paused")

    page.click("button:has-text('Kirim untuk ditinjau')")
    expect(page.locator("#status")).to_have_text("ditinjau")
    expect(page.locator("#review .notice")).to_contain_text("empat mata")
    expect(page.locator("button:has-text('Setujui')")).to_have_count(0)
    page.click("button:has-text('Keluar')")

    _log_in(page, "rina")
    page.goto(f"{base}/content")
    first = page.locator("tr.content-row").first
    expect(first).to_have_attribute("data-slug", "paspor-sendiri")
    expect(first).to_contain_text("menunggu tinjauan Anda")
    first.locator("a").first.click()
    page.click("button:has-text('Setujui')")
    expect(page.locator("p.ok")).to_contain_text("Disetujui")
    expect(page.locator("#status")).to_have_text("disetujui")
    expect(page.locator("p.immutable")).to_contain_text("tidak dapat diubah")
    expect(page.locator("textarea[name=body_text]")).to_have_count(0)

    now = world.clock.now()
    with world.db.read_session() as s:
        playing = s.scalars(select(ContentItem).where(ContentItem.playable_at(now))).all()
        assert [(i.slug, i.status) for i in playing] == [("paspor-sendiri", ContentStatus.approved)]
        assert [i.slug for i in library.playable_items(s, now)] == ["paspor-sendiri"]
        approval = s.scalars(select(AuditEvent).where(AuditEvent.action == "content.approve")).one()
        assert approval.actor_user_id == world.ids["editor2"]

    # The radio page: play the ready segment (MP3 streamed with Range).
    page.click("nav a:has-text('Radio')")
    expect(page.locator("#programmes")).to_contain_text("setiap Senin dan Kamis 19:00 WITA")
    player = f"tr[data-segment='{world.ids['segment']}'] audio"
    page.evaluate(f'document.querySelector("{player}").play()')
    page.wait_for_function(f'!document.querySelector("{player}").paused')
    duration = page.evaluate(f'document.querySelector("{player}").duration')
    assert 1.9 < duration < 2.2
