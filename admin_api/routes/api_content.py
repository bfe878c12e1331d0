"""The content library API for editors and admins: list, drafts, recordings, review
(four eyes), retire, new versions, history, and the audio to hear.

Every change goes through :mod:`broadcasts.library`, which checks the rules and writes
the audit event; its errors keep their ``code`` (four eyes is 403 ``not_permitted``, an
approved version 409 ``content_immutable``, a bad field or upload 422).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from admin_api import content_view
from admin_api.access import api_principal, requires
from admin_api.auth import Principal
from admin_api.context import app_context, client_address, read_tx
from admin_api.radio_schemas import (
    ContentDetailOut,
    ContentIn,
    ContentOut,
    ContentPatch,
    HistoryOut,
    ItemId,
    RejectIn,
    RetireIn,
    content_out,
    detail_out,
    history_out,
)
from broadcasts import library
from core.states import ContentStatus, UserRole

EDITORIAL = (UserRole.admin, UserRole.editor)
router = APIRouter(prefix="/content", tags=["content"])
Editor = Annotated[Principal, Depends(requires(api_principal, *EDITORIAL))]


def library_tx(request: Request) -> Iterator[Session]:
    """A write transaction whose content audit events carry the request's address."""
    with app_context(request).db.transaction() as session:
        content_view.attribute_events(
            session,
            client_address(request),
            lambda: getattr(getattr(request.state, "principal", None), "via", ""),
        )
        yield session


WriteSession = Annotated[Session, Depends(library_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]
ERRORS: dict[int | str, dict[str, Any]] = {403: {}, 404: {}, 409: {}, 422: {}}


def _detail(
    request: Request, session: Session, principal: Principal, item_id: int
) -> ContentDetailOut:
    session.flush()
    now = app_context(request).now()
    return detail_out(content_view.content_detail(session, principal, item_id, now))


@router.get("")
def list_content(
    request: Request,
    principal: Editor,
    session: ReadSession,
    status: ContentStatus | None = None,
    topic: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_-]*$")] = None,
    language: Annotated[str | None, Query(max_length=8, pattern=r"^[a-z]*$")] = None,
) -> list[ContentOut]:
    """The newest version of every item; first what waits for *your* review, then your
    drafts sent back with a comment, then the rest."""
    rows = content_view.content_list(
        session,
        principal,
        app_context(request).now(),
        status=status,
        topic=topic or None,
        language=language or None,
    )
    return [content_out(r) for r in rows]


@router.post("", status_code=201, responses=ERRORS)
def create_content(
    request: Request, body: ContentIn, principal: Editor, session: WriteSession
) -> ContentDetailOut:
    """Start a new item as a draft (version 1)."""
    item = library.create_draft(
        session,
        actor_id=principal.user_id,
        now=app_context(request).now(),
        slug=body.slug,
        title=body.title,
        topic=body.topic,
        language=body.language,
        body_text=body.body_text,
        priority=body.priority,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )
    return _detail(request, session, principal, item.id)


@router.get("/{item_id}", responses=ERRORS)
def get_content(
    request: Request, item_id: ItemId, principal: Editor, session: ReadSession
) -> ContentDetailOut:
    """One version with every version of its item and its history (who did what)."""
    return _detail(request, session, principal, item_id)


@router.patch("/{item_id}", responses=ERRORS)
def edit_content(
    request: Request, item_id: ItemId, body: ContentPatch, principal: Editor, session: WriteSession
) -> ContentDetailOut:
    """Change a draft (only the fields sent). Approved versions never change (409)."""
    changes: dict[str, Any] = {
        name: getattr(body, name)
        for name in body.model_fields_set
        if getattr(body, name) is not None or name in ("valid_from", "valid_until")
    }
    library.edit_draft(
        session, item_id, actor_id=principal.user_id, now=app_context(request).now(), **changes
    )
    return _detail(request, session, principal, item_id)


@router.put("/{item_id}/recording", responses=ERRORS)
def upload_recording(
    request: Request,
    item_id: ItemId,
    file: Annotated[UploadFile, File(description="any common audio format")],
    principal: Editor,
    session: WriteSession,
) -> ContentDetailOut:
    """Make an uploaded recording the voice of a draft. It is checked with ffprobe (size,
    length, that it is audio at all: 422 ``recording_rejected`` says what is wrong)."""
    context = app_context(request)
    name = file.filename or "recording"
    staged = content_view.stage_upload(context.settings, file.file, name)
    try:
        library.attach_recording(
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
    return _detail(request, session, principal, item_id)


@router.delete("/{item_id}/recording", responses=ERRORS)
def remove_recording(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession
) -> ContentDetailOut:
    """Back to the synthesised voice for a draft."""
    library.remove_recording(
        session, item_id, actor_id=principal.user_id, now=app_context(request).now()
    )
    return _detail(request, session, principal, item_id)


@router.post("/{item_id}/submit", responses=ERRORS)
def submit_content(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession
) -> ContentDetailOut:
    """Send a draft for review by another editor."""
    library.submit(session, item_id, actor_id=principal.user_id, now=app_context(request).now())
    return _detail(request, session, principal, item_id)


@router.post("/{item_id}/approve", responses=ERRORS)
def approve_content(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession
) -> ContentDetailOut:
    """Approve an item in review; it then plays in its validity window. Four eyes: 403
    for an editor who wrote or edited this version."""
    library.approve(session, item_id, actor_id=principal.user_id, now=app_context(request).now())
    return _detail(request, session, principal, item_id)


@router.post("/{item_id}/reject", responses=ERRORS)
def reject_content(
    request: Request, item_id: ItemId, body: RejectIn, principal: Editor, session: WriteSession
) -> ContentDetailOut:
    """Send an item in review back to draft with a comment for its author."""
    library.reject(
        session,
        item_id,
        actor_id=principal.user_id,
        now=app_context(request).now(),
        comment=body.comment,
    )
    return _detail(request, session, principal, item_id)


@router.post("/{item_id}/retire", responses=ERRORS)
def retire_content(
    request: Request, item_id: ItemId, body: RetireIn, principal: Editor, session: WriteSession
) -> ContentDetailOut:
    """Withdraw a version for good; ready segments carrying it leave the feeds at once."""
    library.retire(
        session,
        item_id,
        actor_id=principal.user_id,
        now=app_context(request).now(),
        reason=body.reason,
    )
    return _detail(request, session, principal, item_id)


@router.post("/{item_id}/versions", status_code=201, responses=ERRORS)
def new_version(
    request: Request, item_id: ItemId, principal: Editor, session: WriteSession
) -> ContentDetailOut:
    """A new draft copied from an approved (or retired) version."""
    item = library.new_version(
        session, item_id, actor_id=principal.user_id, now=app_context(request).now()
    )
    return _detail(request, session, principal, item.id)


@router.get("/{item_id}/history", responses=ERRORS)
def content_history(item_id: ItemId, principal: Editor, session: ReadSession) -> list[HistoryOut]:
    """Who did what to this version, oldest first."""
    library.get_item(session, item_id)
    names = content_view.user_names(session)
    return [
        history_out(content_view.history_row(e, names)) for e in library.history(session, item_id)
    ]


@router.get(
    "/{item_id}/audio",
    response_class=FileResponse,
    responses={200: {"content": {"audio/mpeg": {}}}, 206: {}, 404: {}, 416: {}, 422: {}},
)
def content_audio(
    request: Request, item_id: ItemId, principal: Editor, session: ReadSession
) -> FileResponse:
    """What the version sounds like (MP3, with ``Range``): the uploaded recording or the
    synthesised speech (a draft's text is spoken on first request)."""
    item = library.get_item(session, item_id)
    path = content_view.preview_file(app_context(request).settings, item)
    response = FileResponse(path, media_type="audio/mpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response
