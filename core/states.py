"""The domain's enumerations and its explicit state machines.

Each machine is a ``StrEnum`` with a comment per state and one table of allowed edges;
:func:`check_transition` is the only place that decides whether a move is allowed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from core.errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)


class CaseStatus(StrEnum):
    # Reported by a caller (or entered by staff); nobody has looked at it yet.
    new = "new"
    # A case worker is reading, listening or triaging.
    in_review = "in_review"
    # Handed to an outside body (police, hospital, shelter, labour office, BP2MI, embassy).
    referred = "referred"
    # Waiting on the next contact with the worker or her family.
    follow_up = "follow_up"
    # Finished; a reason is recorded. Can be reopened.
    closed = "closed"


class JobState(StrEnum):
    # Waiting in the queue until ``run_after``.
    queued = "queued"
    # Claimed by a worker that holds an unexpired lease.
    running = "running"
    # Finished; its effects were committed with this state.
    succeeded = "succeeded"
    # Parked until something outside changes (e.g. a speech model is installed).
    held = "held"
    # Failed permanently or ran out of attempts; ``last_error`` says why.
    dead = "dead"


class ContentStatus(StrEnum):
    # Being written or recorded by its author.
    draft = "draft"
    # Submitted; waiting for an editor other than the author.
    in_review = "in_review"
    # Approved: immutable, playable on the hotline and the radio within its validity window.
    approved = "approved"
    # Withdrawn; never played again.
    retired = "retired"


class SegmentStatus(StrEnum):
    # Chosen by the planner for an air time; no audio yet.
    planned = "planned"
    # Being assembled by a worker.
    assembling = "assembling"
    # Audio files written; stations may download it.
    ready = "ready"
    # Assembly failed; the error is kept and it may be assembled again.
    failed = "failed"
    # A station confirmed it aired.
    aired = "aired"
    # Withdrawn before air (e.g. an item in it was retired).
    cancelled = "cancelled"


class TranscriptionStatus(StrEnum):
    # Recorded; a transcription job is queued or running.
    pending = "pending"
    # A machine transcript is stored (it may be empty: silence).
    done = "done"
    # No speech model for the recording's language; case workers listen or type.
    awaiting_model = "awaiting_model"
    # ffmpeg cannot read the file (zero length, cut, not audio) after every retry.
    unreadable = "unreadable"


class UserRole(StrEnum):
    admin = "admin"
    case_worker = "case_worker"
    editor = "editor"


class Urgency(StrEnum):
    # Violence, sexual abuse, confinement, threat to life, a child.
    critical = "critical"
    high = "high"
    normal = "normal"
    # Not triaged yet (no transcript, no hints).
    untriaged = "untriaged"


URGENCY_RANK = {Urgency.critical: 3, Urgency.high: 2, Urgency.normal: 1, Urgency.untriaged: 0}


class Sex(StrEnum):
    female = "female"
    male = "male"
    unknown = "unknown"


class CallDirection(StrEnum):
    inbound = "inbound"
    # The centre called back after a missed call.
    callback = "callback"


class CallOutcome(StrEnum):
    in_progress = "in_progress"
    listened = "listened"
    reported = "reported"
    callback_requested = "callback_requested"
    # Connected to the counsellor on duty (the transfer node's Dial was answered).
    transferred = "transferred"
    quick_exit = "quick_exit"
    hung_up = "hung_up"
    # The FastAGI server was down and the dialplan took a voicemail.
    fallback_voicemail = "fallback_voicemail"
    failed = "failed"


class CallbackState(StrEnum):
    # Waiting for its time (the delay after a missed call, or the end of quiet hours).
    pending = "pending"
    # Originated; waiting for the callee to answer and reach the menu, or for a retry.
    dialing = "dialing"
    # The callee answered and reached the menu.
    answered = "answered"
    # Every attempt went unanswered; case workers see it in the callback queue.
    failed = "failed"
    # Withdrawn (e.g. by a case worker who reached the caller another way).
    cancelled = "cancelled"


class CallbackSource(StrEnum):
    # A missed call to the callback number, rejected unanswered so it cost nothing.
    missed_call = "missed_call"
    # Option 4 in the menu: the caller asked a case worker to call back.
    menu = "menu"


class ReferralKind(StrEnum):
    police = "police"
    hospital = "hospital"
    shelter = "shelter"
    labour_office = "labour_office"
    bp2mi = "bp2mi"
    embassy = "embassy"
    legal_aid = "legal_aid"
    other = "other"


_EDGES: dict[type[StrEnum], dict[StrEnum, frozenset[StrEnum]]] = {
    CaseStatus: {
        CaseStatus.new: frozenset({CaseStatus.in_review, CaseStatus.closed}),
        CaseStatus.in_review: frozenset(
            {CaseStatus.referred, CaseStatus.follow_up, CaseStatus.closed}
        ),
        CaseStatus.referred: frozenset(
            {CaseStatus.follow_up, CaseStatus.in_review, CaseStatus.closed}
        ),
        CaseStatus.follow_up: frozenset(
            {CaseStatus.referred, CaseStatus.in_review, CaseStatus.closed}
        ),
        # Reopening: a closed case goes back to review, never straight to referred.
        CaseStatus.closed: frozenset({CaseStatus.in_review}),
    },
    JobState: {
        JobState.queued: frozenset({JobState.running, JobState.dead}),
        # running -> running: an expired lease taken over by another worker.
        JobState.running: frozenset(
            {JobState.running, JobState.succeeded, JobState.queued, JobState.held, JobState.dead}
        ),
        JobState.succeeded: frozenset(),
        JobState.held: frozenset({JobState.queued}),
        # An operator may retry a dead job by hand.
        JobState.dead: frozenset({JobState.queued}),
    },
    CallbackState: {
        CallbackState.pending: frozenset(
            {CallbackState.dialing, CallbackState.cancelled, CallbackState.answered}
        ),
        # dialing -> dialing: the next attempt after one that went unanswered.
        CallbackState.dialing: frozenset(
            {
                CallbackState.dialing,
                CallbackState.answered,
                CallbackState.failed,
                CallbackState.cancelled,
            }
        ),
        CallbackState.answered: frozenset(),
        CallbackState.failed: frozenset(),
        CallbackState.cancelled: frozenset(),
    },
    ContentStatus: {
        ContentStatus.draft: frozenset({ContentStatus.in_review, ContentStatus.retired}),
        # Back to draft when a reviewer rejects it.
        ContentStatus.in_review: frozenset(
            {ContentStatus.approved, ContentStatus.draft, ContentStatus.retired}
        ),
        ContentStatus.approved: frozenset({ContentStatus.retired}),
        ContentStatus.retired: frozenset(),
    },
    SegmentStatus: {
        SegmentStatus.planned: frozenset({SegmentStatus.assembling, SegmentStatus.cancelled}),
        SegmentStatus.assembling: frozenset(
            {SegmentStatus.ready, SegmentStatus.failed, SegmentStatus.cancelled}
        ),
        SegmentStatus.failed: frozenset({SegmentStatus.assembling, SegmentStatus.cancelled}),
        SegmentStatus.ready: frozenset(
            {SegmentStatus.aired, SegmentStatus.cancelled, SegmentStatus.assembling}
        ),
        SegmentStatus.aired: frozenset({SegmentStatus.aired}),
        SegmentStatus.cancelled: frozenset(),
    },
}


def allowed_targets(current: S) -> frozenset[S]:
    """The states reachable from ``current`` in one step."""
    edges = _EDGES[type(current)]
    return edges[current]  # type: ignore[return-value]


def check_transition(current: S, target: S) -> S:
    """Return ``target`` if the machine of ``current`` allows the move; raise otherwise."""
    if type(current) is not type(target) or target not in allowed_targets(current):
        raise InvalidTransition(type(current).__name__, str(current), str(target))
    return target
