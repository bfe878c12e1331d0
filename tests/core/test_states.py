"""The explicit state machines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import InvalidTransition
from core.models import Case
from core.states import (
    CaseStatus,
    ContentStatus,
    JobState,
    SegmentStatus,
    allowed_targets,
    check_transition,
)

NOW = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (CaseStatus.new, CaseStatus.in_review),
        (CaseStatus.in_review, CaseStatus.referred),
        (CaseStatus.follow_up, CaseStatus.closed),
        (CaseStatus.closed, CaseStatus.in_review),
        (ContentStatus.in_review, ContentStatus.approved),
        (ContentStatus.in_review, ContentStatus.draft),
        (JobState.held, JobState.queued),
        (SegmentStatus.assembling, SegmentStatus.ready),
    ],
)
def test_allowed(current: CaseStatus, target: CaseStatus) -> None:
    assert check_transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (CaseStatus.new, CaseStatus.referred),
        (CaseStatus.closed, CaseStatus.referred),
        (ContentStatus.draft, ContentStatus.approved),
        (ContentStatus.approved, ContentStatus.draft),
        (ContentStatus.retired, ContentStatus.approved),
        (JobState.succeeded, JobState.queued),
        (SegmentStatus.cancelled, SegmentStatus.ready),
        (CaseStatus.new, ContentStatus.draft),
    ],
)
def test_refused(current: CaseStatus, target: CaseStatus) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, target)


def test_every_state_has_an_entry() -> None:
    for machine in (CaseStatus, JobState, ContentStatus, SegmentStatus):
        for state in machine:
            assert isinstance(allowed_targets(state), frozenset)


def test_case_closing_needs_a_reason_and_reopening_clears_closed_at() -> None:
    case = Case(reference="R", status=CaseStatus.in_review, created_at=NOW, updated_at=NOW)
    with pytest.raises(ValueError, match="reason"):
        case.move_to(CaseStatus.closed, NOW)
    case.move_to(CaseStatus.closed, NOW, reason="worker returned home safely")
    assert (case.status, case.closed_at) == (CaseStatus.closed, NOW)
    case.move_to(CaseStatus.in_review, NOW)
    assert case.closed_at is None
