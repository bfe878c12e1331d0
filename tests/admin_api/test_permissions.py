"""The permission matrix: every route of the app x every role x inside / outside her districts.

The routes come from the app itself, so a new endpoint fails this test until it is given
a rule here. A rule says which roles may call it and whether it is district-scoped (then
a case worker of another district gets 404, as if the object did not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from admin_api import auth
from admin_api.access import SESSION_COOKIE
from admin_api.app import create_app
from core.models import CallbackRequest, Caller, FollowUp, Referral, User
from core.states import CallbackSource, CallbackState, ReferralKind, UserRole
from tests.admin_api.conftest import World
from tests.admin_api.radio_world import seed_radio
from tests.conftest import TEST_SECRET

ADMIN, WORKER, EDITOR = "admin", "case_worker", "editor"
CASES = frozenset({ADMIN, WORKER})
ANYONE = frozenset({ADMIN, WORKER, EDITOR})
ONLY_ADMIN = frozenset({ADMIN})


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scoped: bool = False


# Routes anybody may call, logged in or not.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/language"),
    ("POST", "/api/v1/auth/tokens"),
}
RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/auth/me"): Rule(ANYONE),
    ("GET", "/api/v1/auth/tokens"): Rule(ANYONE),
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): Rule(ANYONE),
    ("POST", "/logout"): Rule(ANYONE),
    ("GET", "/account"): Rule(ANYONE),
    ("POST", "/account/password"): Rule(ANYONE),
    ("POST", "/account/sessions/end-others"): Rule(ANYONE),
    ("POST", "/account/tokens/{token_id}/revoke"): Rule(ANYONE),
    ("GET", "/api/v1/cases"): Rule(CASES),
    ("GET", "/cases"): Rule(CASES),
    ("GET", "/api/v1/follow-ups"): Rule(CASES),
    ("GET", "/follow-ups"): Rule(CASES),
    ("GET", "/api/v1/callbacks"): Rule(CASES),
    ("GET", "/callbacks"): Rule(CASES),
    # Statistics are anonymous and limited to her districts by their content.
    ("GET", "/api/v1/stats"): Rule(CASES),
    ("GET", "/stats"): Rule(CASES),
    ("GET", "/stats.csv"): Rule(CASES),
    ("GET", "/api/v1/audit"): Rule(ONLY_ADMIN),
    ("GET", "/audit"): Rule(ONLY_ADMIN),
    ("GET", "/api/v1/users"): Rule(ONLY_ADMIN),
    ("POST", "/api/v1/users"): Rule(ONLY_ADMIN),
    ("POST", "/api/v1/users/{user_id}/password"): Rule(ONLY_ADMIN),
    ("PUT", "/api/v1/users/{user_id}/active"): Rule(ONLY_ADMIN),
    ("GET", "/users"): Rule(ONLY_ADMIN),
    ("POST", "/users"): Rule(ONLY_ADMIN),
    ("POST", "/users/{user_id}/password"): Rule(ONLY_ADMIN),
    ("POST", "/users/{user_id}/active"): Rule(ONLY_ADMIN),
}
for _method, _path in [
    ("GET", "/api/v1/cases/{case_id}"),
    ("GET", "/api/v1/cases/{case_id}/recordings/{recording_id}/audio"),
    ("POST", "/api/v1/cases/{case_id}/transcript"),
    ("PUT", "/api/v1/cases/{case_id}/indicators"),
    ("PUT", "/api/v1/cases/{case_id}/urgency"),
    ("PUT", "/api/v1/cases/{case_id}/assignee"),
    ("POST", "/api/v1/cases/{case_id}/status"),
    ("PUT", "/api/v1/cases/{case_id}/village"),
    ("POST", "/api/v1/cases/{case_id}/referrals"),
    ("PATCH", "/api/v1/cases/{case_id}/referrals/{referral_id}"),
    ("POST", "/api/v1/cases/{case_id}/follow-ups"),
    ("POST", "/api/v1/cases/{case_id}/follow-ups/{follow_up_id}/done"),
    ("POST", "/api/v1/cases/{case_id}/notes"),
    ("POST", "/api/v1/cases/{case_id}/caller-number"),
    ("POST", "/api/v1/callbacks/{request_id}/done"),
    ("POST", "/api/v1/callbacks/{request_id}/cancel"),
    ("POST", "/api/v1/callbacks/{request_id}/number"),
    ("GET", "/cases/{case_id}"),
    ("POST", "/cases/{case_id}/transcript"),
    ("POST", "/cases/{case_id}/indicators"),
    ("POST", "/cases/{case_id}/urgency"),
    ("POST", "/cases/{case_id}/assignee"),
    ("POST", "/cases/{case_id}/status"),
    ("POST", "/cases/{case_id}/village"),
    ("POST", "/cases/{case_id}/referrals"),
    ("POST", "/cases/{case_id}/referrals/{referral_id}/outcome"),
    ("POST", "/cases/{case_id}/follow-ups"),
    ("POST", "/cases/{case_id}/follow-ups/{follow_up_id}/done"),
    ("POST", "/cases/{case_id}/notes"),
    ("POST", "/cases/{case_id}/caller-number"),
    ("POST", "/callbacks/{request_id}/done"),
    ("POST", "/callbacks/{request_id}/cancel"),
    ("POST", "/callbacks/{request_id}/number"),
]:
    RULES[(_method, _path)] = Rule(CASES, scoped=True)
# Content and radio: editors and admins; stations: admins. Never district-scoped.
EDITORIAL = frozenset({ADMIN, EDITOR})
for _method, _path in [
    ("GET", "/api/v1/content"),
    ("POST", "/api/v1/content"),
    ("GET", "/api/v1/content/{item_id}"),
    ("PATCH", "/api/v1/content/{item_id}"),
    ("PUT", "/api/v1/content/{item_id}/recording"),
    ("DELETE", "/api/v1/content/{item_id}/recording"),
    ("POST", "/api/v1/content/{item_id}/submit"),
    ("POST", "/api/v1/content/{item_id}/approve"),
    ("POST", "/api/v1/content/{item_id}/reject"),
    ("POST", "/api/v1/content/{item_id}/retire"),
    ("POST", "/api/v1/content/{item_id}/versions"),
    ("GET", "/api/v1/content/{item_id}/history"),
    ("GET", "/api/v1/content/{item_id}/audio"),
    ("GET", "/api/v1/radio/programmes"),
    ("GET", "/api/v1/radio/segments"),
    ("GET", "/api/v1/radio/segments/{segment_id}"),
    ("GET", "/api/v1/radio/segments/{segment_id}/audio"),
    ("POST", "/api/v1/radio/segments/{segment_id}/replan"),
    ("POST", "/api/v1/radio/segments/{segment_id}/reassemble"),
    ("GET", "/api/v1/radio/airplays"),
    ("GET", "/content"),
    ("GET", "/content/new"),
    ("POST", "/content"),
    ("GET", "/content/{item_id}"),
    ("POST", "/content/{item_id}/edit"),
    ("POST", "/content/{item_id}/recording"),
    ("POST", "/content/{item_id}/recording/remove"),
    ("POST", "/content/{item_id}/submit"),
    ("POST", "/content/{item_id}/approve"),
    ("POST", "/content/{item_id}/reject"),
    ("POST", "/content/{item_id}/retire"),
    ("POST", "/content/{item_id}/new-version"),
    ("GET", "/programmes"),
    ("GET", "/segments/{segment_id}"),
    ("POST", "/segments/{segment_id}/replan"),
    ("POST", "/segments/{segment_id}/reassemble"),
    ("GET", "/aired"),
]:
    RULES[(_method, _path)] = Rule(EDITORIAL)
for _method, _path in [
    ("GET", "/api/v1/stations"),
    ("POST", "/api/v1/stations"),
    ("PUT", "/api/v1/stations/{station}/programmes/{programme}"),
    ("DELETE", "/api/v1/stations/{station}/programmes/{programme}"),
    ("POST", "/api/v1/stations/{station}/key"),
    ("POST", "/api/v1/stations/{station}/deactivate"),
    ("GET", "/stations"),
    ("POST", "/stations"),
    ("POST", "/stations/{station}/programmes"),
    ("POST", "/stations/{station}/programmes/{programme}/remove"),
    ("POST", "/stations/{station}/key"),
    ("POST", "/stations/{station}/deactivate"),
]:
    RULES[(_method, _path)] = Rule(ONLY_ADMIN)
# Principals: (name, role, whether the seeded objects are inside her districts).
PRINCIPALS = [
    ("admin", ADMIN, True),
    ("case_worker", WORKER, True),
    ("other_worker", WORKER, False),
    ("editor", EDITOR, True),
]
FRAMEWORK = {"/api/v1/openapi.json", "/docs", "/docs/oauth2-redirect"}


def app_routes() -> set[tuple[str, str]]:
    app = create_app_for_listing()
    found = set()
    # Included routers stay nested in FastAPI's route table; walk it as FastAPI does.
    for context in iter_route_contexts(app.routes):
        if isinstance(context.route, APIRoute) and context.path not in FRAMEWORK:
            for method in context.methods or ():
                found.add((method, context.path))
    return found


def create_app_for_listing():  # type: ignore[no-untyped-def]
    import tempfile
    from pathlib import Path

    from sqlalchemy import create_engine

    from core.db import Database
    from tests.conftest import make_settings

    settings = make_settings(Path(tempfile.mkdtemp()))
    return create_app(settings, Database(create_engine("sqlite://")), "routes")


def station_routes(routes: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Routes a radio station calls with its key in the URL, never with a user's login.

    Their keys are tested in tests/admin_api/test_stations.py; here: a user's session or
    token opens none of them.
    """
    return {(method, path) for method, path in routes if path.startswith("/radio/")}


def test_every_route_has_a_rule() -> None:
    routes = app_routes()
    unruled = routes - PUBLIC - set(RULES) - station_routes(routes)
    assert unruled == set(), "give the new routes a rule in RULES"
    assert set(RULES) - routes == set(), "RULES names routes that no longer exist"


def _objects(world: World) -> dict[str, dict[str, int]]:
    """Path parameters: the case, its recording, a referral, a follow-up, a callback, and
    for token revocation a spare token of each principal."""
    now = world.clock.now()
    values: dict[str, dict[str, int]] = {}
    with world.db.transaction() as s:
        referral = Referral(
            case_id=world.ids["inside"],
            kind=ReferralKind.police,
            organisation="Polres",
            referred_at=now,
        )
        follow_up = FollowUp(case_id=world.ids["inside"], description="x", due_at=now)
        caller = s.get(Caller, world.ids["caller"])
        assert caller is not None
        caller.home_village_id = world.ids["village_in"]
        callback = CallbackRequest(
            caller_id=caller.id,
            phone_hash=caller.phone_hash,
            source=CallbackSource.menu,
            state=CallbackState.pending,
            due_at=now,
            created_at=now,
            updated_at=now,
        )
        spare = User(username="spare", role=UserRole.case_worker, password_hash="x", created_at=now)
        s.add_all([referral, follow_up, callback, spare])
        s.flush()
        world.ids["spare_user"] = spare.id
        for name, _role, _inside in PRINCIPALS:
            user = s.get(User, world.ids[name])
            assert user is not None
            token, _raw = auth.issue_api_token(s, user, name="spare", now=now, days=None)
            values[name] = {
                "case_id": world.ids["inside"],
                "recording_id": world.ids["recording"],
                "referral_id": referral.id,
                "follow_up_id": follow_up.id,
                "request_id": callback.id,
                "token_id": token.id,
                # A password reset ends sessions: aim it at a user nobody here logs in as.
                "user_id": world.ids["spare_user"],
            }
    seed_radio(world)
    for name in values:
        values[name].update(
            item_id=world.ids["item"],
            segment_id=world.ids["segment"],
            station="radio-lotim",
            programme="kabar-migran",
        )
    return values


def _web_session(world: World, name: str) -> str:
    with world.db.transaction() as s:
        user = s.get(User, world.ids[name])
        assert user is not None
        return auth.open_web_session(
            s, user, now=world.clock.now(), source="test", settings=world.settings.web
        )


@pytest.mark.parametrize("principal", [p[0] for p in PRINCIPALS] + ["anonymous"])
def test_permission_matrix(world: World, principal: str) -> None:
    params = _objects(world)
    everything = app_routes()
    # Logging out ends the session the later requests use: it goes last.
    routes = sorted(
        everything - PUBLIC - station_routes(everything),
        key=lambda r: (r == ("POST", "/logout"), r),
    )
    role = {name: r for name, r, _ in PRINCIPALS}.get(principal)
    inside = {name: i for name, _, i in PRINCIPALS}.get(principal, False)
    values = params.get(principal, params["admin"])
    cookie = _web_session(world, principal) if role else ""
    failures = []
    app = create_app(world.settings, world.db, "matrix", clock=world.clock)
    world.clock.advance(seconds=1)
    with TestClient(app) as client:
        for method, path in routes:
            rule = RULES[(method, path)]
            url = path.format(**values)
            api = path.startswith("/api/")
            headers = {}
            data = None
            client.cookies.clear()
            if api and role:
                headers["Authorization"] = f"Bearer {world.tokens[principal]}"
            elif role:
                client.cookies.set(SESSION_COOKIE, cookie)
                if method != "GET":
                    data = {"csrf_token": auth.csrf_token(TEST_SECRET, cookie)}
            response = client.request(
                method,
                url,
                headers=headers,
                data=data,
                json={} if api and method != "GET" else None,
                follow_redirects=False,
            )
            code = response.status_code
            if role is None:
                expected = "401" if api else "303 to /login"
                ok = (
                    code == 401
                    if api
                    else (code == 303 and response.headers["location"].startswith("/login"))
                )
            elif role not in rule.roles:
                expected, ok = "403", code == 403
            elif rule.scoped and not inside and role != ADMIN:
                expected, ok = "404", code == 404
            else:
                expected, ok = "allowed", code not in (401, 403, 404) and code < 500
            if not ok:
                failures.append(f"{method} {path}: {principal} expected {expected}, got {code}")
    assert failures == []
    _ = timedelta


STATION_PARAMS = {"key": "dsbr_not-a-key", "programme": "kabar-migran", "filename": "1.mp3"}


@pytest.mark.parametrize("principal", [p[0] for p in PRINCIPALS])
def test_a_users_login_opens_no_station_route(world: World, principal: str) -> None:
    """Logged in (cookie and bearer token) but with a wrong station key: 401 everywhere."""
    cookie = _web_session(world, principal)
    app = create_app(world.settings, world.db, "matrix", clock=world.clock)
    failures = []
    with TestClient(app) as client:
        for method, path in sorted(station_routes(app_routes())):
            url = path.replace("{rest:path}", "anything").format(**STATION_PARAMS)
            client.cookies.set(SESSION_COOKIE, cookie)
            response = client.request(
                method,
                url,
                headers={"Authorization": f"Bearer {world.tokens[principal]}"},
                # A well-formed playout report, so only the key can be what is refused.
                json={"segment_id": 1} if method == "POST" else None,
                follow_redirects=False,
            )
            if response.status_code != 401:
                failures.append(f"{method} {path}: {response.status_code}")
    assert failures == []
