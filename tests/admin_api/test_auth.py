"""Logging in: sessions, lockout, rate limit, CSRF, bearer tokens, and their audit trail."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from admin_api.access import LOGIN_COOKIE, SESSION_COOKIE
from admin_api.app import create_app
from admin_api.auth import issue_api_token
from core.models import ApiToken, AuditEvent, User, WebSession
from tests.admin_api.conftest import PASSWORD, World, csrf_of, web_login
from tests.conftest import make_settings


def _post_login(client: TestClient, username: str, password: str) -> int:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    return response.status_code


def test_login_sets_a_safe_cookie_and_logout_revokes_it(world: World, client: TestClient) -> None:
    page = client.get("/login")
    assert 'lang="id"' in page.text and "Masuk" in page.text
    response = client.post(
        "/login",
        data={"username": "siti", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/cases"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    raw = client.cookies[SESSION_COOKIE]
    inbox = client.get("/cases")
    assert inbox.status_code == 200
    with world.db.read_session() as s:
        row = s.scalars(select(WebSession)).one()
        assert row.token_hash != raw  # only the hash is stored
        login = s.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login")).one()
        assert login.actor_user_id == world.ids["case_worker"] and login.source == "testclient"
    logout = client.post(
        "/logout", data={"csrf_token": csrf_of(inbox.text)}, follow_redirects=False
    )
    assert logout.status_code == 303
    # The old cookie, replayed, opens nothing: the session was revoked on the server.
    client.cookies.set(SESSION_COOKIE, raw)
    again = client.get("/cases", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/login?next=")


def test_secure_cookies_when_configured(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path,
        str(world.db.engine.url.render_as_string(hide_password=False)),
        DESBUMI_WEB__SECURE_COOKIES="true",
    )
    with TestClient(create_app(settings, world.db, "t", clock=world.clock)) as client:
        page = client.get("/login")
        assert "Secure" in page.headers["set-cookie"]


def test_wrong_passwords_lock_the_account_until_the_time_passes(
    world: World, client: TestClient
) -> None:
    for _ in range(5):
        assert _post_login(client, "siti", "wrong-password-x") == 401
    with world.db.read_session() as s:
        user = s.scalars(select(User).where(User.username == "siti")).one()
        assert user.locked_until is not None
    # Locked: even the right password is refused, and the page says why.
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "siti", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401 and "dikunci" in response.text
    world.clock.advance(minutes=16)
    assert _post_login(client, "siti", PASSWORD) == 303
    with world.db.read_session() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("auth.login_failed") == 5
    assert "auth.login_locked" in actions and actions[-1] == "auth.login"


def test_a_lockout_stops_new_logins_not_her_open_work(world: World, client: TestClient) -> None:
    """Someone types wrong passwords for her user name: she cannot log in anew until the
    lockout ends, but the session and token she has open keep working; a new password
    from an admin ends them."""
    hers = TestClient(client.app)
    web_login(hers, "siti")
    assert hers.get("/cases", follow_redirects=False).status_code == 200
    for _ in range(5):
        assert _post_login(client, "siti", "wrong-password-x") == 401
    assert _post_login(TestClient(client.app), "siti", PASSWORD) == 401
    assert hers.get("/cases", follow_redirects=False).status_code == 200
    assert client.get("/api/v1/cases", headers=world.headers("case_worker")).status_code == 200
    reset = client.post(
        f"/api/v1/users/{world.ids['case_worker']}/password", headers=world.headers("admin")
    )
    assert reset.status_code == 200, reset.text
    assert hers.get("/cases", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/cases", headers=world.headers("case_worker")).status_code == 401
    assert client.get("/api/v1/cases", headers=world.headers("other_worker")).status_code == 200


def test_a_deactivated_user_loses_her_tokens_at_once(world: World, client: TestClient) -> None:
    url = f"/api/v1/users/{world.ids['case_worker']}/active"
    off = client.put(url, json={"active": False}, headers=world.headers("admin"))
    assert off.status_code == 200
    assert client.get("/api/v1/cases", headers=world.headers("case_worker")).status_code == 401
    on = client.put(url, json={"active": True}, headers=world.headers("admin"))
    assert on.status_code == 200
    # Revoked, not only refused: reactivating her does not bring an old token back.
    assert client.get("/api/v1/cases", headers=world.headers("case_worker")).status_code == 401
    assert client.get("/api/v1/cases", headers=world.headers("other_worker")).status_code == 200


def test_an_admin_giving_herself_a_new_password_keeps_only_the_request_she_made_it_with(
    world: World, client: TestClient
) -> None:
    csrf = web_login(client, "admin")
    elsewhere = TestClient(client.app)
    web_login(elsewhere, "admin")
    page = client.post(f"/users/{world.ids['admin']}/password", data={"csrf_token": csrf})
    assert page.status_code == 200 and 'class="number password"' in page.text
    assert client.get("/users", follow_redirects=False).status_code == 200  # still in
    assert elsewhere.get("/users", follow_redirects=False).status_code == 303  # ended
    assert client.get("/api/v1/cases", headers=world.headers("admin")).status_code == 401
    # The same through the API with a token: that token stays, her sessions end.
    with world.db.transaction() as s:
        admin = s.get(User, world.ids["admin"])
        assert admin is not None
        _row, raw = issue_api_token(s, admin, name="script", now=world.clock.now(), days=None)
    headers = {"Authorization": f"Bearer {raw}"}
    reset = client.post(f"/api/v1/users/{world.ids['admin']}/password", headers=headers)
    assert reset.status_code == 200
    assert client.get("/api/v1/cases", headers=headers).status_code == 200
    assert client.get("/users", follow_redirects=False).status_code == 303
    # Nobody else lost anything.
    assert client.get("/api/v1/cases", headers=world.headers("case_worker")).status_code == 200


def test_unknown_user_gets_the_same_answer(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "nobody", "password": "x" * 12, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "salah" in response.text


def test_login_rate_limit_per_address(client: TestClient) -> None:
    codes = [_post_login(client, f"user{i}", "wrong-password-x") for i in range(11)]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429


def test_csrf_is_required_on_every_form(world: World, client: TestClient) -> None:
    # The login form itself.
    client.get("/login")
    response = client.post("/login", data={"username": "siti", "password": PASSWORD})
    assert response.status_code == 403
    response = client.post(
        "/login", data={"username": "siti", "password": PASSWORD, "csrf_token": "0" * 64}
    )
    assert response.status_code == 403
    csrf = web_login(client, "siti")
    case = world.ids["inside"]
    # A logged-in form without, or with another session's token.
    assert client.post(f"/cases/{case}/notes", data={"body": "x"}).status_code == 403
    assert (
        client.post(f"/cases/{case}/notes", data={"body": "x", "csrf_token": "ab" * 32}).status_code
        == 403
    )
    ok = client.post(
        f"/cases/{case}/notes", data={"body": "x", "csrf_token": csrf}, follow_redirects=False
    )
    assert ok.status_code == 303
    # The API with a session cookie needs the token in a header; a bearer token does not.
    assert client.post(f"/api/v1/cases/{case}/notes", json={"body": "y"}).status_code == 403
    assert (
        client.post(
            f"/api/v1/cases/{case}/notes", json={"body": "y"}, headers={"X-CSRF-Token": csrf}
        ).status_code
        == 201
    )


def test_api_authentication(world: World, client: TestClient) -> None:
    response = client.get("/api/v1/cases")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"
    assert client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"}).status_code == 401
    # Exchange a password for a token, use it, revoke it.
    made = client.post(
        "/api/v1/auth/tokens", json={"username": "siti", "password": PASSWORD, "days": 1}
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=bearer).json()["username"] == "siti"
    assert client.get("/api/v1/cases", headers=bearer).status_code == 200
    # Expired after its day.
    world.clock.advance(days=2)
    assert client.get("/api/v1/cases", headers=bearer).status_code == 401
    world.clock.advance(days=-2)
    listed = client.get("/api/v1/auth/tokens", headers=bearer).json()
    assert "token" not in listed[0]
    assert (
        client.delete(f"/api/v1/auth/tokens/{made.json()['id']}", headers=bearer).status_code == 204
    )
    assert client.get("/api/v1/cases", headers=bearer).status_code == 401
    wrong = client.post("/api/v1/auth/tokens", json={"username": "siti", "password": "bad-bad-bad"})
    assert wrong.status_code == 401


def test_session_expires_when_idle(world: World, client: TestClient) -> None:
    web_login(client, "siti")
    world.clock.advance(minutes=121)
    response = client.get("/cases", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/cases"


def test_open_redirects_are_refused(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": "siti",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/cases"


def test_language_switch_and_accept_language(world: World, client: TestClient) -> None:
    assert "Log in" in client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"}).text
    page = client.get("/login")
    client.post(
        "/language", data={"language": "en", "csrf_token": csrf_of(page.text), "next": "/login"}
    )
    assert "Log in" in client.get("/login").text
    csrf = web_login(client, "siti")
    client.post("/language", data={"language": "id", "csrf_token": csrf, "next": "/cases"})
    assert "Kotak masuk" in client.get("/cases").text
    with world.db.read_session() as s:
        assert s.scalars(select(User.language).where(User.username == "siti")).one() == "id"
    _ = LOGIN_COOKIE, timedelta


def test_her_own_account(world: World, client: TestClient) -> None:
    csrf = web_login(client, "siti")
    elsewhere = TestClient(client.app)
    web_login(elsewhere, "siti")
    page = client.get("/account").text
    assert page.count("<li>") >= 2 and "sesi ini" in page
    form = {"csrf_token": csrf, "current": "wrong-password-x", "new": "x" * 12, "again": "x" * 12}
    assert "salah" in client.post("/account/password", data=form).text
    form["current"] = PASSWORD
    assert "tidak sama" in client.post("/account/password", data={**form, "again": "y" * 12}).text
    assert (
        "terlalu pendek"
        in client.post("/account/password", data={**form, "new": "short", "again": "short"}).text
    )
    done = client.post(
        "/account/password", data={**form, "new": "a-new-password-1", "again": "a-new-password-1"}
    )
    assert "Kata sandi diganti" in done.text
    # Her other browser was logged out; the new password works.
    assert elsewhere.get("/cases", follow_redirects=False).status_code == 303
    web_login(elsewhere, "siti", "a-new-password-1")
    client.post("/account/sessions/end-others", data={"csrf_token": csrf})
    assert elsewhere.get("/cases", follow_redirects=False).status_code == 303
    with world.db.read_session() as s:
        token = s.scalars(
            select(ApiToken).where(ApiToken.user_id == world.ids["case_worker"])
        ).one()
    client.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf})
    assert client.get("/api/v1/cases", headers=world.headers("case_worker")).status_code == 401
    other_token = client.post("/account/tokens/1/revoke", data={"csrf_token": csrf})
    assert other_token.status_code == 404  # the admin's token is not hers
