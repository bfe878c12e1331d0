"""Creating case reports: a reference the caller can note, and repeat callers linked.

A repeat report from a caller with an open case is an escalation, not a duplicate: the
new case points at the open one, and both are raised one urgency level.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import AuditEvent, Caller, Case
from core.states import URGENCY_RANK, CaseStatus, Urgency

REFERENCE_DIGITS = 6
_ESCALATE = {
    Urgency.untriaged: Urgency.high,
    Urgency.normal: Urgency.high,
    Urgency.high: Urgency.critical,
    Urgency.critical: Urgency.critical,
}


def new_reference(session: Session) -> str:
    """A random six-digit reference, read to the caller digit by digit.

    Random rather than sequential, so a reference says nothing about how many people
    report; the look-up makes collisions (1 in 900,000 per case) retry.
    """
    while True:
        reference = str(100_000 + secrets.randbelow(900_000))
        if session.scalar(select(Case.id).where(Case.reference == reference)) is None:
            return reference


def open_case_of(session: Session, caller: Caller) -> Case | None:
    """The caller's most recent case that is not closed."""
    return session.scalar(
        select(Case)
        .where(Case.caller_id == caller.id, Case.status != CaseStatus.closed)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(1)
    )


def _escalate(case: Case, reason: str, now: datetime) -> None:
    target = _ESCALATE[case.urgency]
    if URGENCY_RANK[target] > case.urgency_rank:
        case.set_urgency(target, [*case.urgency_reasons, reason])
    else:
        case.urgency_reasons = [*case.urgency_reasons, reason]
    case.updated_at = now


def create_report_case(
    session: Session,
    *,
    now: datetime,
    caller: Caller | None = None,
    call_id: int | None = None,
    village_id: int | None = None,
    language: str = "id",
    keypad_hints: dict[str, Any] | None = None,
    incomplete: bool = False,
) -> Case:
    """A new case for a report; linked to the caller's open case if she has one."""
    case = Case(
        reference=new_reference(session),
        caller_id=caller.id if caller else None,
        call_id=call_id,
        village_id=village_id,
        language=language,
        keypad_hints=dict(keypad_hints or {}),
        incomplete=incomplete,
        destination_country=(keypad_hints or {}).get("country"),
        created_at=now,
        updated_at=now,
        indicators=[],
        urgency_reasons=[],
    )
    previous = open_case_of(session, caller) if caller is not None else None
    session.add(case)
    session.flush()
    if previous is not None:
        case.related_case_id = previous.id
        # The reasons name no reference: the two cases may be in different districts, and
        # each district's case workers see only their own (the link is related_case_id).
        _escalate(previous, "repeat report: the caller reported again", now)
        _escalate(case, "repeat report: the caller has another open case", now)
        session.add(
            AuditEvent(
                at=now,
                actor_kind="system",
                action="case.repeat_report",
                object_type="case",
                object_id=str(previous.id),
                details={"new_case": case.id},
            )
        )
    return case
