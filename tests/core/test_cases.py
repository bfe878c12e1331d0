"""Case reports: references, and repeat callers as an escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.callers import register_caller
from core.cases import create_report_case, new_reference
from core.db import Database
from core.models import Case
from core.security import PhoneVault
from core.states import CaseStatus, Urgency
from tests.conftest import TEST_SECRET

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_reference_is_six_digits_and_unique(db: Database) -> None:
    with db.transaction() as s:
        references = {create_report_case(s, now=T0).reference for _ in range(50)}
        assert len(references) == 50
        assert all(r.isdigit() and len(r) == 6 for r in references)
        assert new_reference(s) not in references


def test_repeat_report_links_and_escalates(db: Database) -> None:
    vault = PhoneVault(TEST_SECRET)
    with db.transaction() as s:
        caller = register_caller(s, vault, "0812-3456-7890", now=T0)
        first = create_report_case(
            s, caller=caller, now=T0, keypad_hints={"problem": "unpaid_wages", "country": "MY"}
        )
        first.set_urgency(Urgency.normal, ["no indicators"])
        first_id = first.id
    with db.transaction() as s:
        caller = register_caller(s, vault, "+62 812 3456 7890", now=T0 + timedelta(days=2))
        second = create_report_case(s, caller=caller, now=T0 + timedelta(days=2))
        second_id, second_ref = second.id, second.reference
        first_ref = first.reference
    with db.read_session() as s:
        old, new = s.get(Case, first_id), s.get(Case, second_id)
        assert old is not None and new is not None
        assert new.related_case_id == old.id
        assert old.urgency is Urgency.high and new.urgency is Urgency.high
        assert old.urgency_reasons[-1] == "repeat report: the caller reported again"
        assert new.urgency_reasons[-1] == "repeat report: the caller has another open case"
        # No reference: the other case may be in a district this case's readers cannot see.
        assert second_ref not in str(old.urgency_reasons)
        assert first_ref not in str(new.urgency_reasons)
        assert old.destination_country == "MY"


def test_closed_case_is_not_linked_and_critical_stays_critical(db: Database) -> None:
    vault = PhoneVault(TEST_SECRET)
    with db.transaction() as s:
        caller = register_caller(s, vault, "081111111111", now=T0)
        closed = create_report_case(s, caller=caller, now=T0)
        closed.status = CaseStatus.in_review
        closed.move_to(CaseStatus.closed, T0, reason="resolved")
        fresh = create_report_case(s, caller=caller, now=T0)
        assert fresh.related_case_id is None
        fresh.set_urgency(Urgency.critical, ["violence"])
        again = create_report_case(s, caller=caller, now=T0)
        assert again.related_case_id == fresh.id
        assert fresh.urgency is Urgency.critical
        assert fresh.urgency_reasons[-1].startswith("repeat report")
    anonymous = None
    with db.transaction() as s:
        anonymous = create_report_case(s, now=T0)
        assert anonymous.related_case_id is None and anonymous.caller_id is None
