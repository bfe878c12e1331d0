"""The two work queues beside the inbox: follow-ups that are due, and callback requests.

Callback requests wait for a person when the caller asked for one in the menu (option 4)
or when every automatic attempt after a missed call went unanswered. A case worker calls
back by hand and marks the request done, or cancels it; either takes it off the queue.
A request is in a case worker's scope when the caller's home village is in her
districts, or when the caller's village is not known (as for cases).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session, joinedload

from admin_api import audit
from admin_api.access import case_visibility
from admin_api.auth import Principal
from admin_api.errors import Conflict, NotFound
from core.models import CallbackRequest, Caller, Case, FollowUp, Village
from core.security import PhoneVault
from core.states import CallbackSource, CallbackState, UserRole


def follow_ups(
    session: Session, principal: Principal, *, now: datetime, overdue_only: bool, limit: int = 200
) -> Sequence[FollowUp]:
    """Open follow-ups of the cases she may see, soonest due first."""
    query = (
        select(FollowUp)
        .join(Case, FollowUp.case_id == Case.id)
        .where(FollowUp.done_at.is_(None), case_visibility(principal))
        .order_by(FollowUp.due_at, FollowUp.id)
        .limit(limit)
        .options(joinedload(FollowUp.case))
    )
    if overdue_only:
        query = query.where(FollowUp.due_at < now)
    return session.scalars(query).all()


def _callback_visibility(principal: Principal) -> ColumnElement[bool]:
    if principal.role is UserRole.admin:
        return true()
    if principal.role is not UserRole.case_worker:
        return CallbackRequest.id.is_(None)
    villages = select(Village.id).where(Village.district_id.in_(sorted(principal.district_ids)))
    return or_(Caller.home_village_id.is_(None), Caller.home_village_id.in_(villages))


def waiting_for_a_person() -> ColumnElement[bool]:
    """SQL: requests a person must deal with (menu requests, failed missed-call callbacks)."""
    return and_(
        CallbackRequest.handled_at.is_(None),
        or_(
            and_(
                CallbackRequest.source == CallbackSource.menu,
                CallbackRequest.state == CallbackState.pending,
            ),
            CallbackRequest.state == CallbackState.failed,
        ),
    )


def is_waiting_for_a_person(request: CallbackRequest) -> bool:
    """:func:`waiting_for_a_person` for a loaded request."""
    if request.handled_at is not None:
        return False
    if request.source is CallbackSource.menu and request.state is CallbackState.pending:
        return True
    return request.state is CallbackState.failed


def callback_queue(
    session: Session, principal: Principal, *, limit: int = 200
) -> Sequence[CallbackRequest]:
    """Oldest first: whoever asked first is called first."""
    return session.scalars(
        select(CallbackRequest)
        .join(Caller, CallbackRequest.caller_id == Caller.id)
        .where(waiting_for_a_person(), _callback_visibility(principal))
        .order_by(CallbackRequest.created_at, CallbackRequest.id)
        .limit(limit)
    ).all()


def load_callback(session: Session, principal: Principal, request_id: int) -> CallbackRequest:
    request = session.scalar(
        select(CallbackRequest)
        .join(Caller, CallbackRequest.caller_id == Caller.id)
        .where(CallbackRequest.id == request_id, _callback_visibility(principal))
    )
    if request is None:
        raise NotFound(f"no callback request {request_id}")
    return request


def handle_callback(
    session: Session,
    principal: Principal,
    request: CallbackRequest,
    outcome: str,
    *,
    now: datetime,
    source: str,
) -> CallbackRequest:
    """Mark a request ``done`` (she called back) or ``cancelled``; it leaves the queue.

    A pending request also leaves the dialer's states, so the hotline does not merge the
    caller's next request into this finished one.
    """
    if outcome not in {"done", "cancelled"}:
        raise Conflict("the outcome is done or cancelled")
    if request.handled_at is not None:
        raise Conflict("this request was dealt with already")
    if request.state in (CallbackState.pending, CallbackState.dialing):
        request.move_to(
            CallbackState.answered if outcome == "done" else CallbackState.cancelled, now
        )
    request.handled_at = now
    request.handled_by_id = principal.user_id
    request.handled_outcome = outcome
    request.updated_at = now
    audit.record(
        session,
        principal,
        f"callback.{outcome}",
        now=now,
        source=source,
        object_type="callback_request",
        object_id=request.id,
    )
    return request


def reveal_callback_number(
    session: Session,
    principal: Principal,
    request: CallbackRequest,
    vault: PhoneVault,
    *,
    now: datetime,
    source: str,
) -> str:
    """The number to call back, in clear, while the request waits for a person; audited.

    Once it is done or cancelled (or while the dialer still calls by itself) there is
    nobody to call: the number stays masked.
    """
    if not is_waiting_for_a_person(request):
        raise Conflict("this request is not waiting for a call back: its number stays hidden")
    caller = session.get(Caller, request.caller_id)
    if caller is None:
        raise NotFound("the caller is gone")
    number = vault.decrypt(caller.phone_encrypted)
    audit.record(
        session,
        principal,
        "caller.reveal",
        now=now,
        source=source,
        object_type="callback_request",
        object_id=request.id,
        details={"caller_id": caller.id},
    )
    return number
