"""Tables of the engine. Times are timezone-aware UTC (`*_at`); enums are StrEnum stored as text."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.clock import utcnow
from engine.db import Base, UTCDateTime


class InstanceStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskState(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ClockUnit(StrEnum):
    WORKDAYS = "workdays"
    DAYS = "days"
    MONTHS = "months"
    HOURS = "hours"


class ClockStatus(StrEnum):
    RUNNING = "running"
    SUSPENDED = "suspended"
    STOPPED = "stopped"


class Unit(Base):
    """An organisational unit: 区局 or 科室."""

    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    doc_prefix: Mapped[str] = mapped_column(String(32), default="")  # 文号 prefix, e.g. 渝北医保


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    roles: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )

    @property
    def role_codes(self) -> set[str]:
        return {r.role for r in self.roles}


class UserRole(Base):
    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class Definition(Base):
    """One deployed version of a process (BPMN) or decision (DMN), with the whole file it came from."""

    __tablename__ = "definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # "process" or "decision"
    name: Mapped[str] = mapped_column(String(255), default="")
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    xml: Mapped[str] = mapped_column(Text)
    deployed_by: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Case(Base):
    """案件: the domain record beside the workflows; statistics read this, never workflow data."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    party_name: Mapped[str] = mapped_column(String(255), default="")
    party_type: Mapped[str] = mapped_column(String(32), default="")
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    stage: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32), default="open")
    outcome: Mapped[str] = mapped_column(String(64), default="")
    violation_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    amount_involved: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    amount_recovered: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    fine: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    penalty_interest: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # 加处罚款 (法72)
    liquidated_damages: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # 协议违约金
    # The process that opened the case (penalty_case, ledger_clearance, referral_police …).
    kind: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)
    institution_type: Mapped[str] = mapped_column(String(32), default="", server_default="")
    clue_source: Mapped[str] = mapped_column(String(32), default="", server_default="")
    referral_destination: Mapped[str] = mapped_column(String(64), default="", server_default="")
    referral_result: Mapped[str] = mapped_column(String(64), default="", server_default="")
    legal_review: Mapped[bool] = mapped_column(Boolean, default=False)
    collective_discussion: Mapped[bool] = mapped_column(Boolean, default=False)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProcessInstance(Base):
    """One running (or ended) workflow. `state` is SpiffWorkflow's serialization without the spec."""

    __tablename__ = "process_instances"
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"))
    process_key: Mapped[str] = mapped_column(String(128), index=True)
    # Every definition the instance uses (root, called processes, decisions), pinned at start.
    spec_pins: Mapped[dict[str, int]] = mapped_column(JSON)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    unit_code: Mapped[str | None] = mapped_column(String(32))  # the 区局 whose officers work it
    status: Mapped[InstanceStatus] = mapped_column(String(16), default=InstanceStatus.RUNNING)
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    incident: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012


INBOX_COVERED = ("process_key", "stage", "created_at", "priority", "case_id")


class Task(Base):
    """Projection of one user task that is or was READY. Inbox, board and statistics read this only."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_open_assignee", "state", "assignee"),
        Index("ix_tasks_open_due", "state", "due_at"),
        Index("ix_tasks_instance", "instance_id", "state"),
        # The 待办 page counts and pages one officer's open tasks from this index alone, without
        # reading the table, whatever its filter or sort (revisions 0011, 0012). Not partial:
        # SQLite cannot use a partial index with a bound state; no INCLUDE: SQLite has none.
        Index(
            "ix_tasks_inbox",
            "state",
            "assignee",
            "unit_code",
            "due_at",
            *INBOX_COVERED,
            "id",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    process_key: Mapped[str] = mapped_column(String(128))
    bpmn_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    stage: Mapped[str] = mapped_column(String(64), default="")  # the task spec's `stage` property
    role: Mapped[str] = mapped_column(String(64), default="")
    candidate_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    candidate_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    assignee: Mapped[str | None] = mapped_column(String(64))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[TaskState] = mapped_column(String(16), default=TaskState.OPEN)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_unverified: Mapped[bool] = mapped_column(Boolean, default=False)
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(64))
    form_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class TaskGroup(Base):
    """One candidate group of an OPEN task; rows go when the task closes, so the table stays small."""

    __tablename__ = "task_groups"
    group_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)


class ClockRule(Base):
    """The default limit of a named legal clock: a settings table a process owner edits."""

    __tablename__ = "clock_rules"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[ClockUnit] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")


class LegalClock(Base):
    """A running legal deadline (法定期限) of one process instance."""

    __tablename__ = "legal_clocks"
    __table_args__ = (
        UniqueConstraint("instance_id", "name"),
        Index("ix_legal_clocks_open_due", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[ClockUnit] = mapped_column(String(16))
    extended: Mapped[int] = mapped_column(Integer, default=0)
    # Closed suspensions as [[from_iso, to_iso], ...]; an open one is in suspended_since.
    suspensions: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    suspended_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[ClockStatus] = mapped_column(String(16), default=ClockStatus.RUNNING)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_unverified: Mapped[bool] = mapped_column(Boolean, default=False)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class CalendarDay(Base):
    """A day that differs from the Monday-to-Friday rule: a holiday on a weekday, or a 调休 workday."""

    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(32), default="admin")
    updated_by: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarYear(Base):
    """A year whose holidays and 调休 days have been entered; deadlines in other years are unverified."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(32), default="admin")
    confirmed_by: Mapped[str] = mapped_column(String(64), default="system")
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """全过程记录: append-only, hash-chained in `seq` order."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    before_digest: Mapped[str | None] = mapped_column(String(64))
    after_digest: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link. Locking this one row serializes appends, so the chain never forks."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), server_default=text("'" + "0" * 64 + "'"))


class NumberSequence(Base):
    """The last number issued per kind of document, unit and year: 文号 without gaps or duplicates."""

    __tablename__ = "number_sequences"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class MessageWait(Base):
    """A message a running instance waits for (a catch event) or accepts (an event subprocess)."""

    __tablename__ = "message_waits"
    __table_args__ = (Index("ix_message_waits_lookup", "name", "correlation_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    correlation_key: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # "catch" (waiting now) or "start" (event subprocess)


class EvidenceFile(Base):
    """证据材料: stored once with its SHA-256; a new upload of the same title is a new version."""

    __tablename__ = "evidence_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64), default="")  # 证据类型: 书证, 物证, 视听资料, 电子数据 …
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id"))
    storage_key: Mapped[str] = mapped_column(String(255))  # path under the evidence store, never reused
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    """A remark on a case (办案意见交流), kept forever like everything else."""

    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Document(Base):
    """文书: an official document generated from a template, numbered, hashed, attached to a case."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(64))  # 行政处罚事先告知书 …
    number: Mapped[str | None] = mapped_column(String(64))  # 文号, e.g. 渝北医保告〔2026〕3号
    title: Mapped[str] = mapped_column(String(255))
    file_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Notification(Base):
    """An in-app message (the bell): a reminder, an escalation, a 催办."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_unread", "recipient", "read_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # reminder, escalation, urge, info
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)  # one reminder per deadline step
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """Something to send to the outside world, written in the same transaction as the step that
    caused it and sent after commit by a worker: retried with back-off, sent once per idempotency key."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(32))  # email, webhook, dropfolder, sms
    destination: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EscalationRule(Base):
    """When to remind and escalate a deadline, in working days relative to the due day: one policy
    table for every process (negative = before the deadline)."""

    __tablename__ = "escalation_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    step: Mapped[str] = mapped_column(String(32))  # remind_assignee, escalate_chief, escalate_deputy
    offset_workdays: Mapped[int] = mapped_column(Integer)
    recipient_role: Mapped[str] = mapped_column(String(64))  # "assignee" or a role code
    process_key: Mapped[str] = mapped_column(String(128), default="")  # "" = every process
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Report(Base):
    """举报投诉 submitted on the public page. Who reported is kept apart in ReporterIdentity, so no
    list, export or document that reads reports or cases can show it."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_number: Mapped[str] = mapped_column(String(32), unique=True)  # 受理编号, gap-free per bureau
    query_code_hash: Mapped[str] = mapped_column(String(255))  # the reporter's secret 查询码 (scrypt)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    institution: Mapped[str] = mapped_column(String(100))  # 被举报机构
    matter: Mapped[str] = mapped_column(String(32))  # 举报事项
    description: Mapped[str] = mapped_column(Text)
    attachment_count: Mapped[int] = mapped_column(Integer, default=0)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReporterIdentity(Base):
    """The reporter's contact identity: read only by the handling officers of the case, audited."""

    __tablename__ = "reporter_identities"
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(255), default="")


class RateLimitWindow(Base):
    """Requests counted per bucket (e.g. one client address, or everyone) and fixed time window, in
    the database so that every web worker counts against the same limit."""

    __tablename__ = "rate_limit_windows"
    bucket: Mapped[str] = mapped_column(String(96), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class SuspicionRecord(Base):
    """智能监管疑点: one suspicious settlement from the smart-supervision system, imported once
    (source system + record id is unique) and attached to the clue of its institution."""

    __tablename__ = "suspicion_records"
    __table_args__ = (UniqueConstraint("source_system", "record_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_system: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(64))
    institution_code: Mapped[str] = mapped_column(String(64), index=True)
    institution_name: Mapped[str] = mapped_column(String(100))
    institution_type: Mapped[str] = mapped_column(String(32), default="")
    rule_code: Mapped[str] = mapped_column(String(64), default="")
    rule_name: Mapped[str] = mapped_column(String(200))
    settlement_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    description: Mapped[str] = mapped_column(Text, default="")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255), default="")
    line: Mapped[int] = mapped_column(Integer, default=0)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemberAgency(Base):
    """A member agency of the joint-meeting mechanism (联席会议成员单位) that receives 信息抄告:
    which institution types are its remit, and where copies go (an outbox channel and destination)."""

    __tablename__ = "member_agencies"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    remit: Mapped[str] = mapped_column(String(255), default="")
    institution_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(32))
    destination: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ProcessDraft(Base):
    """A process owner's unfinished edit of one BPMN/DMN file in the modeller, kept until deployed."""

    __tablename__ = "process_drafts"
    __table_args__ = (UniqueConstraint("owner", "file_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # "bpmn" or "dmn"
    xml: Mapped[str] = mapped_column(Text)
    base_sha256: Mapped[str] = mapped_column(String(64), default="")  # the deployed file it started from
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InstanceMigration(Base):
    """One move of a running instance to another definition version, with what moving it back needs."""

    __tablename__ = "instance_migrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    from_definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"))
    to_definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"))
    from_pins: Mapped[dict[str, int]] = mapped_column(JSON)
    to_pins: Mapped[dict[str, int]] = mapped_column(JSON)
    state_before: Mapped[str] = mapped_column(Text)
    serializer_version_before: Mapped[str] = mapped_column(String(16))
    tasks_before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # open task rows as they were
    lock_version_after: Mapped[int] = mapped_column(Integer)
    audit_seq: Mapped[int] = mapped_column(Integer)  # the migration's own audit event
    migrated_by: Mapped[str] = mapped_column(String(64))
    migrated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reverted_by: Mapped[str | None] = mapped_column(String(64))
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReferralDestination(Base):
    """Where referral packages for one receiving agency go (移送/协作 接收单位): the outbox channel
    (email, webhook, dropfolder; "manual" = delivered on paper) and its address. `secret` signs
    webhook packages and checks the agency's signed replies; it is never shown back in full."""

    __tablename__ = "referral_destinations"
    __table_args__ = (UniqueConstraint("unit_code", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32), default="")  # the 区局; "" = every bureau
    code: Mapped[str] = mapped_column(String(32))  # police, discipline, health_commission …
    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(32), default="manual")
    address: Mapped[str] = mapped_column(String(255), default="")
    secret: Mapped[str] = mapped_column(String(128), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Referral(Base):
    """One 移送 sent out: its gap-free number (the 移送书文号, the key replies correlate by), the
    manifest of the package (documents and evidence with SHA-256) and where it went."""

    __tablename__ = "referrals"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    destination_code: Mapped[str] = mapped_column(String(32))
    destination_name: Mapped[str] = mapped_column(String(100))
    receiver: Mapped[str] = mapped_column(String(100), default="")  # the unit the officer named
    channel: Mapped[str] = mapped_column(String(32))  # "manual" when no delivery is configured
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    last_reply: Mapped[str] = mapped_column(String(16), default="")  # 受理, 立案, 不予立案, 退回
    last_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferralReply(Base):
    """A receiving agency's answer to a referral, taken into the waiting process as a BPMN message.
    `nonce` (signed webhook replies) is unique: a replayed request is refused."""

    __tablename__ = "referral_replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str] = mapped_column(String(100), default="")  # the agency's 文号
    source: Mapped[str] = mapped_column(String(16))  # webhook, paper
    nonce: Mapped[str | None] = mapped_column(String(64), unique=True)
    message: Mapped[str] = mapped_column(String(128))  # the BPMN message it was delivered as
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id"))  # the scan
    recorded_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeadlineItem(Base):
    """Projection for the 超期督办 board: one row per open user task with a due date and per running
    legal clock, with what the board groups and filters by copied in (engine/deadlines.py keeps it
    in step in the same transaction as the tasks, clocks and cases it reads)."""

    __tablename__ = "deadline_items"
    __table_args__ = (
        UniqueConstraint("kind", "item_id"),
        Index("ix_deadline_items_due", "due_at", "kind", "item_id"),
        Index("ix_deadline_items_bureau_due", "bureau", "due_at"),
        Index("ix_deadline_items_instance", "instance_id"),
        Index("ix_deadline_items_case", "case_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "task" or "clock"
    item_id: Mapped[int] = mapped_column(Integer)  # tasks.id or legal_clocks.id
    instance_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    process: Mapped[str] = mapped_column(String(128))
    stage: Mapped[str] = mapped_column(String(64), default="")
    officer: Mapped[str] = mapped_column(String(64), default="")
    unit: Mapped[str] = mapped_column(String(32), default="")
    bureau: Mapped[str] = mapped_column(String(32), default="")
    institution: Mapped[str] = mapped_column(String(255), default="")
    case_id: Mapped[int | None] = mapped_column(Integer)
    case_number: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_unverified: Mapped[bool] = mapped_column(Boolean, default=False)
