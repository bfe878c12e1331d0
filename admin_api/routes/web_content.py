"""The editors' content pages: the list (what needs my review first), a new draft, and
one version's page with every action on it.

Each form posts to its own path and is answered with a redirect back (post/redirect/
get). A form with a wrong field, or an upload the library refuses, is shown again with
the reason and what was typed (nothing is lost); the change is rolled back to its
savepoint, so a half-made edit is never committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_api import content_view
from admin_api.access import requires, web_principal
from admin_api.auth import Principal
from admin_api.context import app_context, read_tx
from admin_api.errors import ApiError, from_broadcast
from admin_api.radio_schemas import Clean, ItemId
from admin_api.routes.api_content import library_tx
from admin_api.web import render
from broadcasts import library
from broadcasts.errors import InvalidContent, RecordingRejected
from core.clock import zone_abbreviation
from core.models import ContentItem
from core.states import ContentStatus, UserRole

router = APIRouter(include_in_schema=False)
Editor = Annotated[Principal, Depends(requires(web_principal, UserRole.admin, UserRole.editor))]
WriteSession = Annotated[Session, Depends(library_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]
Text = Annotated[str, Form(max_length=400), Clean]
Body = Annotated[str, Form(max_length=20_000), Clean]
Short = Annotated[str, Form(max_length=120), Clean]
Moment = Annotated[str, Form(max_length=32)]
DONE = {
    "created",
    "saved",
    "recording",
    "recording_removed",
    "submitted",
    "approved",
    "rejected",
    "retired",
    "new_version",
}
T = TypeVar("T")


@dataclass(frozen=True)
class ContentFields:
    """The fields of the new-draft and edit forms, as typed."""

    title: str
    topic: str
    language: str
    body_text: str
    priority: bool
    valid_from: str
    valid_until: str

    def typed(self) -> dict[str, Any]:
        """What the form shows again when the library refuses it."""
        return asdict(self)

    def library_arguments(self, zone: str) -> dict[str, Any]:
        """The library's keyword arguments; a wrong date is a 422 ApiError."""
        return {
            **asdict(self),
            "valid_from": content_view.parse_local(self.valid_from, zone, "valid_from"),
            "valid_until": content_view.parse_local(self.valid_until, zone, "valid_until"),
        }


def content_fields(
    title: Text,
    topic: Short,
    language: Short = "id",
    body_text: Body = "",
    priority: Short = "",
    valid_from: Moment = "",
    valid_until: Moment = "",
) -> ContentFields:
    return ContentFields(title, topic, language, body_text, bool(priority), valid_from, valid_until)


Fields = Annotated[ContentFields, Depends(content_fields)]


def _back(item_id: int, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(
        f"/content/{item_id}?done={done}" + (f"#{anchor}" if anchor else ""), status_code=303
    )


def _attempt(session: Session, action: Callable[[], T]) -> tuple[T | None, ApiError | None]:
    """Run ``action`` in a savepoint; a refusal (bad field, refused upload) is returned,
    with the savepoint rolled back, so the page can show it with what was typed."""
    try:
        with session.begin_nested():
            return action(), None
    except (InvalidContent, RecordingRejected) as exc:
        return None, from_broadcast(exc)
    except ApiError as exc:
        if exc.status_code != 422:
            raise
        return None, exc


def _form_values(item: ContentItem | None, timezone: str) -> dict[str, Any]:
    if item is None:
        return {"language": "id", "priority": False}
    return {
        "slug": item.slug,
        "title": item.title,
        "topic": item.topic,
        "language": item.language,
        "body_text": item.body_text,
        "priority": item.priority,
        "valid_from": content_view.local_input(item.valid_from, timezone),
        "valid_until": content_view.local_input(item.valid_until, timezone),
    }


@router.get("/content")
def content_list_page(
    request: Request,
    principal: Editor,
    session: ReadSession,
    status: Annotated[str, Query(max_length=16)] = "",
    topic: Annotated[str, Query(max_length=64, pattern=r"^[a-z0-9_-]*$")] = "",
    language: Annotated[str, Query(max_length=8, pattern=r"^[a-z]*$")] = "",
) -> HTMLResponse:
    chosen = ContentStatus(status) if status in ContentStatus.__members__ else None
    rows = content_view.content_list(
        session,
        principal,
        app_context(request).now(),
        status=chosen,
        topic=topic or None,
        language=language or None,
    )
    languages = sorted(set(session.scalars(select(ContentItem.language).distinct())))
    return render(
        request,
        "content_list.html",
        {
            "rows": rows,
            "filters": {"status": status, "topic": topic, "language": language},
            "statuses": list(ContentStatus),
            "topics": library.topics(session),
            "languages_used": languages,
            "to_review": sum(1 for r in rows if r.needs_my_review),
        },
    )


def _new_page(
    request: Request,
    session: Session,
    values: dict[str, Any],
    error: ApiError | None = None,
) -> HTMLResponse:
    return render(
        request,
        "content_new.html",
        {
            "form": values,
            "error": error,
            "topics": library.topics(session),
            "content_languages": content_view.LANGUAGES,
            "zone": zone_abbreviation(app_context(request).settings.timezone),
        },
        status_code=error.status_code if error else 200,
    )


@router.get("/content/new")
def new_content_page(request: Request, principal: Editor, session: ReadSession) -> HTMLResponse:
    return _new_page(request, session, _form_values(None, app_context(request).settings.timezone))


@router.post("/content", response_model=None)
def create_content(
    request: Request, principal: Editor, session: WriteSession, slug: Short, fields: Fields
) -> Response:
    context = app_context(request)

    def create() -> ContentItem:
        return library.create_draft(
            session,
            actor_id=principal.user_id,
            now=context.now(),
            slug=slug,
            **fields.library_arguments(context.settings.timezone),
        )

    item, error = _attempt(session, create)
    if item is None:
        return _new_page(request, session, {"slug": slug, **fields.typed()}, error)
    return _back(item.id, "created")


def _item_page(
    request: Request,
    session: Session,
    principal: Principal,
    item_id: int,
    *,
    done: str = "",
    form: dict[str, Any] | None = None,
    error: ApiError | None = None,
    upload_error: ApiError | None = None,
) -> HTMLResponse:
    context = app_context(request)
    detail = content_view.content_detail(session, principal, item_id, context.now())
    failure = error or upload_error
    return render(
        request,
        "content_item.html",
        {
            "d": detail,
            "i": detail.item,
            "done": done if done in DONE else "",
            "form": form or _form_values(detail.item, context.settings.timezone),
            "error": error,
            "upload_error": upload_error,
            "topics": library.topics(session),
            "content_languages": content_view.LANGUAGES,
            "limits": context.settings.radio,
            "zone": zone_abbreviation(context.settings.timezone),
        },
        status_code=failure.status_code if failure else 200,
    )


@router.get("/content/{item_id}")
def content_page(
    request: Request,
    item_id: ItemId,
    principal: Editor,
    session: ReadSession,
    done: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    return _item_page(request, session, principal, item_id, done=done)


@router.post("/content/{item_id}/edit", response_model=None)
def edit_content(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession, fields: Fields
) -> Response:
    context = app_context(request)

    def edit() -> ContentItem:
        return library.edit_draft(
            session,
            item_id,
            actor_id=principal.user_id,
            now=context.now(),
            **fields.library_arguments(context.settings.timezone),
        )

    item, error = _attempt(session, edit)
    if item is None:
        return _item_page(request, session, principal, item_id, form=fields.typed(), error=error)
    return _back(item_id, "saved")


@router.post("/content/{item_id}/recording", response_model=None)
def upload_recording(
    request: Request,
    item_id: ItemId,
    principal: Editor,
    session: WriteSession,
    file: Annotated[UploadFile, File()],
) -> Response:
    context = app_context(request)
    name = file.filename or "recording"

    def attach() -> ContentItem:
        staged = content_view.stage_upload(context.settings, file.file, name)
        try:
            return library.attach_recording(
                session,
                context.settings,
                item_id,
                staged,
                original_name=name,
                actor_id=principal.user_id,
                now=context.now(),
            )
        finally:
            content_view.discard(staged)

    item, error = _attempt(session, attach)
    if item is None:
        return _item_page(request, session, principal, item_id, upload_error=error)
    return _back(item_id, "recording", "audio")


@router.post("/content/{item_id}/recording/remove")
def remove_recording(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession
) -> RedirectResponse:
    library.remove_recording(
        session, item_id, actor_id=principal.user_id, now=app_context(request).now()
    )
    return _back(item_id, "recording_removed", "audio")


@router.post("/content/{item_id}/submit")
def submit_content(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession
) -> RedirectResponse:
    library.submit(session, item_id, actor_id=principal.user_id, now=app_context(request).now())
    return _back(item_id, "submitted")


@router.post("/content/{item_id}/approve")
def approve_content(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession
) -> RedirectResponse:
    library.approve(session, item_id, actor_id=principal.user_id, now=app_context(request).now())
    return _back(item_id, "approved")


@router.post("/content/{item_id}/reject", response_model=None)
def reject_content(
    request: Request,
    item_id: ItemId,
    principal: Editor,
    session: WriteSession,
    comment: Body = "",
) -> Response:
    def reject() -> ContentItem:
        return library.reject(
            session,
            item_id,
            actor_id=principal.user_id,
            now=app_context(request).now(),
            comment=comment,
        )

    item, error = _attempt(session, reject)
    if item is None:
        return _item_page(request, session, principal, item_id, error=error)
    return _back(item_id, "rejected")


@router.post("/content/{item_id}/retire")
def retire_content(
    request: Request,
    item_id: ItemId,
    principal: Editor,
    session: WriteSession,
    reason: Body = "",
) -> RedirectResponse:
    library.retire(
        session, item_id, actor_id=principal.user_id, now=app_context(request).now(), reason=reason
    )
    return _back(item_id, "retired")


@router.post("/content/{item_id}/new-version")
def new_version(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession
) -> RedirectResponse:
    item = library.new_version(
        session, item_id, actor_id=principal.user_id, now=app_context(request).now()
    )
    return _back(item.id, "new_version")
