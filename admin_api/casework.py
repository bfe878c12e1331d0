"""Working a case: every change a case worker makes, each written to the audit log.

Services take a Session and never commit (the request owns the transaction). The audit
details name fields, states and ids only; what a caller said stays out of the log.

A case worker's first change to a ``new`` case moves it to ``in_review`` (somebody is
looking at it now); adding a referral moves it to ``referred`` when the workflow allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from admin_api import audit
from admin_api.access import may_see
from admin_api.auth import Principal
from admin_api.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import (
    AuditEvent,
    Case,
    CaseNote,
    FollowUp,
    Recording,
    Referral,
    Transcript,
    User,
    Village,
)
from core.security import PhoneVault
from core.states import (
    CaseStatus,
    ReferralKind,
    Urgency,
    UserRole,
    allowed_targets,
)
from transcription import service as transcription
from transcription.triage import Indicator

MAX_TEXT = 20_000
# A browser's player asks for the audio in many ranges (every seek, every buffer): one
# person listening to one case's audio within this time is one read in the audit log.
LISTENING = timedelta(minutes=30)


@dataclass(frozen=True)
class Actor:
    """Who changes a case, when, from where: everything the audit log needs."""

    principal: Principal
    now: datetime
    source: str

    def log(
        self,
        session: Session,
        action: str,
        case: Case,
        **details: Any,
    ) -> None:
        audit.record(
            session,
            self.principal,
            action,
            now=self.now,
            source=self.source,
            object_type="case",
            object_id=case.id,
            details=details,
        )


def _touch(session: Session, case: Case, actor: Actor) -> None:
    if case.status is CaseStatus.new:
        case.move_to(CaseStatus.in_review, actor.now)
        actor.log(session, "case.status", case, old="new", new="in_review", automatic=True)
    case.updated_at = actor.now


def record_view(session: Session, case: Case, actor: Actor, what: str = "case") -> None:
    """A read of the case (its page, its audio, its transcript) goes to the audit log."""
    actor.log(session, f"case.read.{what}", case)


def record_listening(session: Session, case: Case, actor: Actor) -> None:
    """A request for the case's audio, whatever its Range: audited unless the same person
    read this case's audio within :data:`LISTENING` (then it is the same listening)."""
    already = session.scalar(
        select(
            exists().where(
                AuditEvent.object_type == "case",
                AuditEvent.object_id == str(case.id),
                AuditEvent.action == "case.read.audio",
                AuditEvent.actor_user_id == actor.principal.user_id,
                AuditEvent.at > actor.now - LISTENING,
            )
        )
    )
    if not already:
        record_view(session, case, actor, "audio")


def correct_transcript(
    session: Session, case: Case, recording_id: int, text: str, actor: Actor
) -> Transcript:
    """Store a case worker's transcript beside the machine's and triage again."""
    text = text.strip()
    if not text:
        raise Invalid("the transcript is empty")
    if len(text) > MAX_TEXT:
        raise Invalid(f"the transcript is longer than {MAX_TEXT} characters")
    recording = session.get(Recording, recording_id)
    if recording is None or recording.case_id != case.id:
        raise NotFound(f"no recording {recording_id} in this case")
    if recording.purged_at is not None:
        raise Invalid("this recording was purged by the retention period")
    transcript = transcription.correct_transcript(
        session, recording_id, text, user_id=actor.principal.user_id, now=actor.now
    )
    _touch(session, case, actor)
    actor.log(session, "case.transcript_correct", case, recording_id=recording_id, length=len(text))
    return transcript


def set_indicators(
    session: Session, case: Case, indicators: Sequence[Indicator], actor: Actor
) -> None:
    """The case worker's list of indicators: confirmed ones keep the machine's evidence,
    added ones are marked as hers, absent ones are removed."""
    wanted = list(dict.fromkeys(Indicator(i) for i in indicators))
    known = {item["indicator"]: item for item in case.indicators}
    result = []
    for indicator in wanted:
        item = dict(known.get(indicator.value) or {"indicator": indicator.value, "source": "staff"})
        item["confirmed_by"] = actor.principal.user_id
        result.append(item)
    before = sorted(known)
    case.indicators = result
    _touch(session, case, actor)
    actor.log(session, "case.indicators", case, old=before, new=[i.value for i in wanted])


def set_urgency(session: Session, case: Case, urgency: Urgency, reason: str, actor: Actor) -> None:
    """A case worker's urgency, which may be lower than the machine's; she says why."""
    reason = reason.strip()
    if not reason:
        raise Invalid("say why the urgency changes")
    if urgency is Urgency.untriaged:
        raise Invalid("choose critical, high or normal")
    old = case.urgency
    label = f"{actor.principal.display_name}: {reason[:300]}"
    case.set_urgency(urgency, [*case.urgency_reasons, label])
    _touch(session, case, actor)
    actor.log(session, "case.urgency", case, old=str(old), new=str(urgency))


def assignable_users(session: Session, case: Case) -> list[User]:
    """Active case workers who can see the case, and admins."""
    users = session.scalars(
        select(User)
        .where(User.is_active.is_(True), User.role.in_([UserRole.admin, UserRole.case_worker]))
        .order_by(User.username)
    ).all()
    district = case.village.district_id if case.village else None
    return [
        u
        for u in users
        if u.role is UserRole.admin or district is None or district in {d.id for d in u.districts}
    ]


def assign(session: Session, case: Case, user_id: int | None, actor: Actor) -> None:
    if user_id is not None:
        if user_id not in {u.id for u in assignable_users(session, case)}:
            raise Invalid("that person cannot take this case (role or district)")
    old = case.assignee_id
    case.assignee_id = user_id
    _touch(session, case, actor)
    actor.log(session, "case.assign", case, old=old, new=user_id)


def change_status(
    session: Session, case: Case, target: CaseStatus, reason: str, actor: Actor
) -> None:
    """Move through the workflow (core.states); closing needs a reason."""
    reason = reason.strip()
    old = case.status
    if target is CaseStatus.closed and not reason:
        raise Invalid("closing a case needs a reason")
    case.move_to(target, actor.now, reason=reason[:2000] or None)
    actor.log(session, "case.status", case, old=str(old), new=str(target))


def add_referral(
    session: Session,
    case: Case,
    *,
    kind: ReferralKind,
    organisation: str,
    contact: str,
    referred_at: datetime,
    outcome: str,
    actor: Actor,
) -> Referral:
    organisation = organisation.strip()
    if not organisation:
        raise Invalid("name the organisation the case is referred to")
    referral = Referral(
        case_id=case.id,
        kind=kind,
        organisation=organisation[:200],
        contact=contact.strip()[:200],
        referred_at=referred_at,
        outcome=outcome.strip() or None,
        created_by_id=actor.principal.user_id,
    )
    session.add(referral)
    _touch(session, case, actor)
    session.flush()
    if CaseStatus.referred in allowed_targets(case.status):
        old = case.status
        case.move_to(CaseStatus.referred, actor.now)
        actor.log(session, "case.status", case, old=str(old), new="referred", automatic=True)
    actor.log(session, "case.referral_add", case, referral_id=referral.id, kind=str(kind))
    return referral


def set_referral_outcome(
    session: Session, case: Case, referral_id: int, outcome: str, actor: Actor
) -> Referral:
    referral = session.get(Referral, referral_id)
    if referral is None or referral.case_id != case.id:
        raise NotFound(f"no referral {referral_id} in this case")
    referral.outcome = outcome.strip()[:MAX_TEXT] or None
    case.updated_at = actor.now
    actor.log(session, "case.referral_outcome", case, referral_id=referral_id)
    return referral


def add_follow_up(
    session: Session,
    case: Case,
    *,
    description: str,
    due_at: datetime,
    assignee_id: int | None,
    actor: Actor,
) -> FollowUp:
    description = description.strip()
    if not description:
        raise Invalid("describe the follow-up")
    if assignee_id is not None and assignee_id not in {
        u.id for u in assignable_users(session, case)
    }:
        raise Invalid("that person cannot take this case (role or district)")
    task = FollowUp(
        case_id=case.id,
        description=description[:MAX_TEXT],
        due_at=due_at,
        assignee_id=assignee_id if assignee_id is not None else actor.principal.user_id,
    )
    session.add(task)
    _touch(session, case, actor)
    session.flush()
    actor.log(session, "case.follow_up_add", case, follow_up_id=task.id)
    return task


def complete_follow_up(session: Session, case: Case, follow_up_id: int, actor: Actor) -> FollowUp:
    task = session.get(FollowUp, follow_up_id)
    if task is None or task.case_id != case.id:
        raise NotFound(f"no follow-up {follow_up_id} in this case")
    if task.done_at is None:
        task.done_at = actor.now
    case.updated_at = actor.now
    actor.log(session, "case.follow_up_done", case, follow_up_id=follow_up_id)
    return task


def add_note(session: Session, case: Case, body: str, actor: Actor) -> CaseNote:
    body = body.strip()
    if not body:
        raise Invalid("the note is empty")
    note = CaseNote(
        case_id=case.id,
        author_id=actor.principal.user_id,
        body=body[:MAX_TEXT],
        created_at=actor.now,
    )
    session.add(note)
    _touch(session, case, actor)
    session.flush()
    actor.log(session, "case.note_add", case, note_id=note.id)
    return note


def set_village(session: Session, case: Case, village_id: int, actor: Actor) -> None:
    """Place the case in a village. A case worker may move a case only into her districts,
    unless it had no village (then she routes it to whoever covers that village)."""
    village = session.get(Village, village_id)
    if village is None:
        raise Invalid(f"no village {village_id}")
    principal = actor.principal
    if (
        principal.role is UserRole.case_worker
        and case.village_id is not None
        and village.district_id not in principal.district_ids
    ):
        raise Forbidden("you can move a case only into your own districts")
    old = case.village_id
    case.village_id = village.id
    case.village = village
    _touch(session, case, actor)
    actor.log(session, "case.village", case, old=old, new=village.id)


def reveal_caller_number(session: Session, case: Case, vault: PhoneVault, actor: Actor) -> str:
    """The caller's number in clear, for calling her back; the reveal is audited."""
    if case.caller is None:
        raise NotFound("this case has no caller number (anonymous or withheld)")
    if case.purged_at is not None:
        # The retention period ended what this case may say about her, her number included
        # (the caller's row stays for her other cases).
        raise Conflict("this case was purged by the retention period: no number is shown")
    if actor.principal.role not in (UserRole.admin, UserRole.case_worker) or not may_see(
        actor.principal, case
    ):
        raise Forbidden("your role does not allow seeing numbers")
    number = vault.decrypt(case.caller.phone_encrypted)
    actor.log(session, "caller.reveal", case, caller_id=case.caller_id)
    return number


def case_timezone(case: Case, default: str) -> str:
    """The zone a case's dates are meant in: its village's, else the installation's."""
    return case.village.timezone if case.village else default


def local_day_at(day: date, hour: int, timezone: str) -> datetime:
    """``hour`` o'clock on ``day`` in ``timezone``, as an aware datetime."""
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(timezone))
