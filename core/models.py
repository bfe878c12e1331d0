"""The domain model (SQLAlchemy 2.0 typed ORM).

Times are UTC (:class:`core.types.UTCDateTime`); states are StrEnums from
:mod:`core.states` whose moves go through :func:`core.states.check_transition`.
Caller phone numbers exist only encrypted (``phone_encrypted``) plus a keyed hash
(``phone_hash``) for lookup: see :mod:`core.security`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from core.states import (
    URGENCY_RANK,
    CallbackSource,
    CallbackState,
    CallDirection,
    CallOutcome,
    CaseStatus,
    ContentStatus,
    JobState,
    ReferralKind,
    SegmentStatus,
    Sex,
    TranscriptionStatus,
    Urgency,
    UserRole,
    check_transition,
)
from core.types import StrEnumType, UTCDateTime

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


user_districts = Table(
    "user_districts",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("district_id", ForeignKey("districts.id", ondelete="CASCADE"), primary_key=True),
)

programme_stations = Table(
    "programme_stations",
    Base.metadata,
    Column("programme_id", ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True),
    Column("station_id", ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
)


class District(Base):
    """A kabupaten/kota; users are scoped to districts."""

    __tablename__ = "districts"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    province: Mapped[str] = mapped_column(String(120), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    villages: Mapped[list[Village]] = relationship(back_populates="district")


class Village(Base):
    """A desa with a DESBUMI centre. It carries its own time zone (WIB/WITA/WIT)."""

    __tablename__ = "villages"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    district: Mapped[District] = relationship(back_populates="villages")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(StrEnumType(UserRole))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # The interface language she chose ("id" or "en"); empty: the installation's default.
    language: Mapped[str] = mapped_column(String(8), default="", server_default="")
    districts: Mapped[list[District]] = relationship(secondary=user_districts)


class WebSession(Base):
    """A logged-in browser. The cookie holds a random token; only its hash is stored, so a
    stolen database opens no session. Revoked on logout, password change or by an admin."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # The address that logged in (for the audit log and the user's own session list).
    source: Mapped[str] = mapped_column(String(64), default="")
    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for the API, shown once; only its hash and a prefix are kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    user: Mapped[User] = relationship()


class Station(Base):
    """A community radio station that pulls segments with its API key."""

    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    timezone: Mapped[str] = mapped_column(String(64))
    # The key is shown once; only its hash and a short prefix (to tell keys apart) are kept.
    api_key_hash: Mapped[str] = mapped_column(String(128))
    api_key_prefix: Mapped[str] = mapped_column(String(16), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # When the station last fetched anything with its key (editors see who pulls).
    last_seen_at: Mapped[datetime | None]
    programmes: Mapped[list[Programme]] = relationship(
        secondary=programme_stations, back_populates="stations"
    )


class Caller(Base):
    """A phone number that called, stored encrypted; ``phone_hash`` finds it again."""

    __tablename__ = "callers"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    phone_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sex: Mapped[Sex] = mapped_column(StrEnumType(Sex), default=Sex.unknown)
    home_village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"), index=True)
    preferred_language: Mapped[str] = mapped_column(String(8), default="id")
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    home_village: Mapped[Village | None] = relationship()


class Call(Base):
    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    asterisk_uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"), index=True)
    direction: Mapped[CallDirection] = mapped_column(
        StrEnumType(CallDirection), default=CallDirection.inbound
    )
    language: Mapped[str] = mapped_column(String(8), default="id")
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    # The menu nodes visited, in order, with the digit that led there.
    menu_path: Mapped[list[Any]] = mapped_column(default=list)
    outcome: Mapped[CallOutcome] = mapped_column(
        StrEnumType(CallOutcome), default=CallOutcome.in_progress
    )
    caller: Mapped[Caller | None] = relationship()


class CallbackRequest(Base):
    """A caller waiting to be called back (a missed call, or option 4 of the menu).

    ``phone_hash`` repeats the caller's keyed hash so that "one callback per number per
    window" is one indexed look-up; the number itself is only in ``callers``, encrypted.
    """

    __tablename__ = "callback_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"), index=True)
    phone_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[CallbackSource] = mapped_column(StrEnumType(CallbackSource))
    # The call that asked for it (menu requests); missed calls are never answered.
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    # "morning", "midday", "afternoon", "any".
    preferred_time: Mapped[str] = mapped_column(String(16), default="any")
    language: Mapped[str] = mapped_column(String(8), default="id")
    state: Mapped[CallbackState] = mapped_column(
        StrEnumType(CallbackState), default=CallbackState.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    # The Call that reached the menu when the callee answered.
    answered_call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    # A person dealt with it (called back by hand, or decided not to): it leaves the queue.
    handled_at: Mapped[datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # "done" or "cancelled".
    handled_outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_callback_requests_due", "state", "due_at"),
        Index("ix_callback_requests_phone", "phone_hash", "created_at"),
    )

    def move_to(self, target: CallbackState, now: datetime) -> None:
        check_transition(self.state, target)
        self.state = target
        self.updated_at = now


class Case(Base):
    """A report of a problem, from a call or entered by staff."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Read to the caller digit by digit and quoted on the phone.
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[CaseStatus] = mapped_column(StrEnumType(CaseStatus), default=CaseStatus.new)
    urgency: Mapped[Urgency] = mapped_column(StrEnumType(Urgency), default=Urgency.untriaged)
    # Derived from ``urgency`` (see set_urgency); kept as a column so the inbox sorts by index.
    urgency_rank: Mapped[int] = mapped_column(Integer, default=0)
    urgency_reasons: Mapped[list[Any]] = mapped_column(default=list)
    indicators: Mapped[list[Any]] = mapped_column(default=list)
    # What the caller pressed: problem type, destination country, village code.
    keypad_hints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    destination_country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(8), default="id")
    # The recording was cut short (hangup) or is missing parts.
    incomplete: Mapped[bool] = mapped_column(Boolean, default=False)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # A repeat report from a caller with an open case points at that case.
    related_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    close_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Set when the retention period purged its recordings, transcripts, notes and evidence.
    purged_at: Mapped[datetime | None]

    caller: Mapped[Caller | None] = relationship()
    village: Mapped[Village | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    recordings: Mapped[list[Recording]] = relationship(back_populates="case")
    referrals: Mapped[list[Referral]] = relationship(back_populates="case")
    notes: Mapped[list[CaseNote]] = relationship(back_populates="case")
    follow_ups: Mapped[list[FollowUp]] = relationship(back_populates="case")

    # The inbox: status, then urgency order, with the village (district scope) and the id
    # in the index itself, so the inbox's sort reads no table rows (admin_api.inbox).
    __table_args__ = (
        Index("ix_cases_inbox", "status", "urgency_rank", "created_at", "village_id", "id"),
    )

    def set_urgency(self, urgency: Urgency, reasons: list[str]) -> None:
        self.urgency = urgency
        self.urgency_rank = URGENCY_RANK[urgency]
        self.urgency_reasons = list(reasons)

    def move_to(self, target: CaseStatus, now: datetime, reason: str | None = None) -> None:
        """Change status through the case state machine; closing needs a reason."""
        check_transition(self.status, target)
        if target is CaseStatus.closed:
            if not reason:
                raise ValueError("closing a case needs a reason")
            self.close_reason = reason
            self.closed_at = now
        elif self.status is CaseStatus.closed:
            self.closed_at = None
        self.status = target
        self.updated_at = now


class Recording(Base):
    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    # Relative to the data directory, so the data directory can move.
    path: Mapped[str] = mapped_column(String(512))
    format: Mapped[str] = mapped_column(String(16))
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    # Cut short by a hangup; kept all the same.
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    # The caller's menu language, which chooses the speech model.
    language: Mapped[str] = mapped_column(String(8), default="id", server_default="id")
    transcription: Mapped[TranscriptionStatus] = mapped_column(
        StrEnumType(TranscriptionStatus),
        default=TranscriptionStatus.pending,
        server_default=TranscriptionStatus.pending.value,
    )
    transcription_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # The file was deleted by the retention period; the row stays for the statistics.
    purged_at: Mapped[datetime | None]
    case: Mapped[Case | None] = relationship(back_populates="recordings")


class Transcript(Base):
    """Machine text and a case worker's correction, kept side by side (both are evidence)."""

    __tablename__ = "transcripts"
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    engine: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(120), default="")
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text, default="")
    # [{"word": str, "start": float, "end": float, "conf": float}, ...]
    words: Mapped[list[Any]] = mapped_column(default=list)
    confidence: Mapped[float | None] = mapped_column(Float)
    corrected_text: Mapped[str | None] = mapped_column(Text)
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    corrected_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Referral(Base):
    __tablename__ = "referrals"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ReferralKind] = mapped_column(StrEnumType(ReferralKind))
    organisation: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(200), default="")
    referred_at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case: Mapped[Case] = relationship(back_populates="referrals")


class CaseNote(Base):
    __tablename__ = "case_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    case: Mapped[Case] = relationship(back_populates="notes")


class FollowUp(Base):
    __tablename__ = "follow_ups"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(index=True)
    done_at: Mapped[datetime | None]
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case: Mapped[Case] = relationship(back_populates="follow_ups")


class ContentItem(Base):
    """One version of a safe-migration message. Approved versions are immutable."""

    __tablename__ = "content_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable across versions; (slug, version) is unique.
    slug: Mapped[str] = mapped_column(String(120), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text, default="")
    # An uploaded recording, relative to the data directory; it replaces synthesised voice.
    audio_path: Mapped[str | None] = mapped_column(String(512))
    priority: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ContentStatus] = mapped_column(
        StrEnumType(ContentStatus), default=ContentStatus.draft
    )
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    # The reviewer's comment when a submission was sent back to draft (the latest one).
    review_comment: Mapped[str | None] = mapped_column(Text)
    # Radio master (44.1 kHz mono WAV) relative to the data directory, with its duration:
    # the uploaded recording converted, or the text synthesised after approval.
    radio_audio_path: Mapped[str | None] = mapped_column(String(512))
    duration_s: Mapped[float | None] = mapped_column(Float)
    # EBU R128 integrated loudness and true peak of the radio master, measured once, so
    # assembly can level the items of a segment without measuring them again.
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    true_peak_db: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("slug", "version", name="uq_content_items_slug_version"),)

    @classmethod
    def playable_at(cls, moment: datetime) -> ColumnElement[bool]:
        """SQL: approved and inside its validity window at ``moment`` (the hotline and the
        radio play nothing else). :func:`content_playable` is the same rule for loaded rows;
        a property test holds the two together."""
        return and_(
            cls.status == ContentStatus.approved,
            or_(cls.valid_from.is_(None), cls.valid_from <= moment),
            or_(cls.valid_until.is_(None), cls.valid_until > moment),
        )


def content_playable(
    status: ContentStatus,
    valid_from: datetime | None,
    valid_until: datetime | None,
    moment: datetime,
) -> bool:
    """:meth:`ContentItem.playable_at` in Python, for the radio planner's pure functions."""
    return (
        status is ContentStatus.approved
        and (valid_from is None or valid_from <= moment)
        and (valid_until is None or valid_until > moment)
    )


class Programme(Base):
    """A radio programme, e.g. "Kabar Migran", 10 minutes in Bahasa Indonesia."""

    __tablename__ = "programmes"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8), default="id")
    target_duration_s: Mapped[int] = mapped_column(Integer, default=600)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Spoken after the jingle and before it at the end (synthesised); empty: none.
    intro_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    outro_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # An uploaded jingle relative to the data directory; None: one is synthesised (sox).
    jingle_path: Mapped[str | None] = mapped_column(String(512))
    # Topics to rotate through (empty: every topic); an item is not repeated within this.
    topics: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    repeat_window_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    created_at: Mapped[datetime]
    stations: Mapped[list[Station]] = relationship(
        secondary=programme_stations, back_populates="programmes"
    )
    slots: Mapped[list[Slot]] = relationship(back_populates="programme")


class Slot(Base):
    """A recurring air time (RFC 5545 RRULE) in the station's local time zone."""

    __tablename__ = "slots"
    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    rrule: Mapped[str] = mapped_column(String(255))
    # Local wall-clock start, e.g. "2026-01-01T19:00:00", interpreted in ``timezone``.
    dtstart_local: Mapped[str] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64))
    programme: Mapped[Programme] = relationship(back_populates="slots")


class Segment(Base):
    """One assembled episode of a programme for one air time."""

    __tablename__ = "segments"
    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id"))
    air_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[SegmentStatus] = mapped_column(
        StrEnumType(SegmentStatus), default=SegmentStatus.planned
    )
    # {"mp3": "segments/...", "opus": ..., "telephone": ...}: relative paths.
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cue_sheet: Mapped[list[Any]] = mapped_column(default=list)
    duration_s: Mapped[float | None] = mapped_column(Float)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    # The content item ids the planner chose, in air order (the assembly job's input).
    planned_content_ids: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # Assembly progress 0..1 while assembling (long builds).
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # {"mp3": {"size": int, "sha256": str}, ...} for each file in ``files`` except the
    # telephone stem.
    file_info: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    assembled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    programme: Mapped[Programme] = relationship()

    __table_args__ = (UniqueConstraint("programme_id", "air_at", name="uq_segments_air"),)


class Airplay(Base):
    """A station's confirmation that a segment went on air (the playout log)."""

    __tablename__ = "airplays"
    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    aired_at: Mapped[datetime]
    reported_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("segment_id", "station_id", "aired_at", name="uq_airplays_report"),
        Index("ix_airplays_station", "station_id", "aired_at"),
    )


class Job(Base):
    """A unit of background work in the durable queue (see :mod:`core.queue`)."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[JobState] = mapped_column(StrEnumType(JobState), default=JobState.queued)
    # Higher runs first.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Optional idempotency key: enqueueing the same key twice yields one job.
    unique_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime]
    # Fencing token of the current claim: a worker whose lease was taken over finds its
    # token changed and cannot complete the job.
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    held_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_jobs_lease", "state", "lease_expires_at"),)


# Serves the claim of due jobs in priority order (core.queue._due).
Index("ix_jobs_claim", Job.state, Job.priority.desc(), Job.run_after, Job.id)


class AuditEvent(Base):
    """Who did what, when, from where. Never holds a phone number or a transcript."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # "user", "station", "system", "cli"
    actor_kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_audit_object", "object_type", "object_id"),)
