"""Server-rendered pages: the Jinja2 environment and one ``render`` for every page.

Pages are small and plain (no web fonts, no CDN, one small stylesheet, a few lines of
JavaScript where it helps) so they load on a phone over a slow connection.
"""

from __future__ import annotations

import re
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from admin_api import i18n
from admin_api.access import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE
from admin_api.auth import Principal, csrf_token
from admin_api.context import app_context
from admin_api.inbox import InboxRow
from core.clock import local_time, zone_abbreviation
from core.models import Case


def templates() -> Jinja2Templates:
    directory = resources.files("admin_api").joinpath("templates")
    env = Jinja2Templates(directory=str(directory))
    env.env.autoescape = True
    env.env.trim_blocks = True
    env.env.lstrip_blocks = True
    return env


def language_of(request: Request, principal: Principal | None) -> str:
    context = app_context(request)
    return i18n.negotiate(
        principal.language if principal else "",
        request.cookies.get(i18n.LANGUAGE_COOKIE, ""),
        request.headers.get("accept-language", ""),
        context.settings.web.language,
    )


def format_local(moment: datetime | None, timezone: str) -> str:
    """``12 Nov 2026 19:05 WITA``: a stored UTC time in a village's (or the default) zone."""
    if moment is None:
        return ""
    local = local_time(moment, timezone)
    return f"{local:%d-%m-%Y %H:%M} {zone_abbreviation(timezone)}"


def age_text(translate: i18n.Translator, moment: datetime, now: datetime) -> str:
    """How long ago, roughly: "3 jam lalu" / "3 h ago"."""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 3600:
        return translate("age.minutes", n=max(1, seconds // 60))
    if seconds < 86400 * 2:
        return translate("age.hours", n=seconds // 3600)
    return translate("age.days", n=seconds // 86400)


# Triage's own reasons ("physical violence: 'dipukul' at 1.0 s") repeat an indicator; the
# page shows the indicators in the reader's language instead.
_TRIAGE_REASON = re.compile(r"^[a-z ]+: '")


def why_urgent(translate: i18n.Translator, case: Case | InboxRow) -> list[str]:
    """Why a case is as urgent as it is: its indicators with the phrase that shows each
    (and its time in the recording), then the other reasons (a repeat report, a case
    worker's judgement)."""
    reasons = []
    for item in case.indicators:
        text = translate(f"indicator.{item.get('indicator', '')}")
        phrase = str(item.get("phrase") or "")
        if phrase.startswith("keypad:"):
            # Triage's evidence for what the caller pressed, not words she said.
            text += f" ({translate('evidence.keypad')})"
        elif phrase:
            text += f": “{phrase}”"
        if item.get("start") is not None:
            text += f" ({float(item['start']):.1f} s)"
        reasons.append(text)
    reasons += [str(r) for r in case.urgency_reasons if not _TRIAGE_REASON.match(str(r))]
    return reasons


def render(
    request: Request,
    name: str,
    values: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    context = app_context(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    language = language_of(request, principal)
    translate = i18n.Translator(language)
    cookie = principal.session_token if principal else request.cookies.get(LOGIN_COOKIE, "")
    timezone = context.settings.timezone
    now = context.now()
    base = {
        "request": request,
        "_": translate,
        "lang": language,
        "languages": i18n.LANGUAGE_NAMES,
        "principal": principal,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(context.secret, cookie) if cookie else "",
        "now": now,
        "tz": timezone,
        "local": lambda moment, tz=None: format_local(moment, tz or timezone),
        "ago": lambda moment: age_text(translate, moment, now),
        "why": lambda case: why_urgent(translate, case),
        "version": context.version,
        "here": quote(request.url.path + (f"?{request.url.query}" if request.url.query else "")),
    }
    response = context.templates.TemplateResponse(
        request, name, {**base, **values}, status_code=status_code
    )
    # Pages show personal data: never keep them in a shared browser's or proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def has_session_cookie(request: Request) -> bool:
    return bool(request.cookies.get(SESSION_COOKIE))
