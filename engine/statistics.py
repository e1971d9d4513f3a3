"""统计分析: the figures of the statistics dashboard and of the reports built from it, for a date range
and a unit. Pure queries over the projections (cases, tasks, legal_clocks, documents) — never a
workflow. A case belongs to the range when it was opened (线索登记) in it; a 区局 sees its own cases, a
科室 the cases its officers completed a task of. Every figure and table the dashboard shows, the CSV and
XLSX exports and the 年度/季度/月度 reports come from one `compute()`, so they always agree."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, Text, and_, case, cast, func, select, type_coerce
from sqlalchemy.orm import Session

from engine import audit, calendar
from engine.cases import CASE_STATUSES, INSTITUTION_TYPES
from engine.clock import BEIJING
from engine.errors import InputError, NotFoundError
from engine.models import Case, Document, Task, TaskState, Unit, User
from engine.users import Actor

PENALTY_KINDS = ("penalty_case", "incoming_transfer")  # the processes whose cases are 行政处罚案件
NOT_FILED = ("clue", "not_filed")  # a penalty case counts as handled (办理) once it is filed (立案)
STATUS_NAMES = {
    "clue": "线索核查中",
    "open": "办理中",
    "not_filed": "不予立案",
    "suspended": "中止",
    "closed": "已结案",
    "terminated": "已终止",
    "referred": "已移送",
}
assert set(STATUS_NAMES) == CASE_STATUSES
MAX_DAYS = 3 * 366 + 1  # the longest range one request may ask for


@dataclass(frozen=True)
class Scope:
    """What to count: cases opened from `start` to `end` (Beijing dates, both included) in `unit`."""

    start: date
    end: date
    unit: str

    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, first instant after) of the range, Beijing midnights."""
        lo = datetime.combine(self.start, time(), tzinfo=BEIJING)
        return lo, datetime.combine(self.end + timedelta(days=1), time(), tzinfo=BEIJING)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: int | Decimal | None  # None: not defined (a share of nothing)
    unit: str  # 件, 元, %


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    chart: str = "bar"  # bar, barh, pie, line or "" for none: column 0 labels, `value_column` values
    value_column: int = 1


@dataclass(frozen=True)
class Statistics:
    scope: Scope
    unit_name: str
    figures: tuple[Figure, ...]
    tables: tuple[Table, ...]

    def value(self, key: str) -> int | Decimal | None:
        return next(f.value for f in self.figures if f.key == key)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def scope_for(start: date, end: date, unit: str) -> Scope:
    """A valid scope; raises InputError on a reversed or too long range."""
    if end < start:
        raise InputError("结束日期不能早于开始日期")
    if (end - start).days >= MAX_DAYS:
        raise InputError("统计区间不能超过三年")
    return Scope(start, end, unit)


def units_of(session: Session, bureau: str) -> list[tuple[str, str]]:
    """(code, name) of a 区局 and its 科室, the units its people may pick."""
    rows = session.execute(
        select(Unit.code, Unit.name)
        .where((Unit.code == bureau) | (Unit.parent_code == bureau))
        .order_by(Unit.parent_code.is_not(None), Unit.code)
    ).all()
    return [(code, name) for code, name in rows]


def _unit_clause(session: Session, code: str) -> tuple[str, ColumnElement[bool]]:
    unit = session.get(Unit, code)
    if unit is None:
        raise NotFoundError(f"单位「{code}」不存在")
    if unit.parent_code is None:
        return unit.name, Case.unit_code == code
    members = select(User.username).where(User.unit_code == code)
    worked = select(Task.case_id).where(Task.completed_by.in_(members), Task.case_id.is_not(None))
    return unit.name, Case.id.in_(worked)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _money(column: Any, condition: ColumnElement[bool] | None = None) -> Any:
    value = column if condition is None else case((condition, column), else_=None)
    return type_coerce(func.coalesce(func.sum(value), 0), Numeric(14, 2))


def _yuan(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def percent(part: int, whole: int) -> Decimal | None:
    """part / whole in per cent with one decimal, None when whole is 0."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def p90(values: list[int]) -> int | None:
    """The 90th percentile by the nearest-rank method (the value 90 % of the sample is at or below)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def compute(session: Session, scope: Scope) -> Statistics:
    """Every figure and table of the dashboard for `scope`. Raises NotFoundError for an unknown unit."""
    unit_name, in_unit = _unit_clause(session, scope.unit)
    lo, hi = scope.bounds()
    where = and_(Case.opened_at >= lo, Case.opened_at < hi, in_unit)
    penalty = and_(where, Case.kind.in_(PENALTY_KINDS))
    filed = and_(penalty, Case.status.not_in(NOT_FILED))
    decided = and_(filed, Case.fine.is_not(None))  # both decisions (罚 and 不罚) record the fine
    totals = session.execute(
        select(
            _count(filed),
            _count(and_(filed, Case.published.is_(True))),
            _count(and_(filed, Case.legal_review.is_(True))),
            _count(decided),
            _count(and_(decided, Case.legal_review.is_(True))),
            _count(and_(decided, Case.collective_discussion.is_(True))),
            _money(Case.amount_recovered, Case.kind != "self_inspection"),
            _money(Case.fine),
            _money(Case.liquidated_damages),
            _money(Case.penalty_interest),
            _money(Case.amount_recovered, and_(Case.clue_source == "smart", Case.kind != "self_inspection")),
            _money(Case.amount_recovered, Case.kind == "self_inspection"),
        ).where(where)
    ).one()
    handled, published, reviewed, decisions, decided_reviewed, discussed = (int(v) for v in totals[:6])
    recovered, fines, damages, surcharges, smart, refunds = (_yuan(v) for v in totals[6:])
    documents = session.scalar(
        select(func.count(Document.id)).join(Case, Case.id == Document.case_id).where(where)
    )
    per_year = cases_per_year(session, scope.unit, range(scope.end.year - 2, scope.end.year + 1))
    ledger = _ledger(session, where)
    figures = (
        Figure("penalty_cases", "办理行政处罚案件", handled, "件"),
        Figure("published", "公示案件", published, "件"),
        Figure("legal_review_cases", "法制审核案件", reviewed, "件"),
        Figure("decisions", "作出处理决定", decisions, "件"),
        Figure("legal_review_share", "决定经法制审核占比", percent(decided_reviewed, decisions), "%"),
        Figure("discussion_share", "决定经集体讨论占比", percent(discussed, decisions), "%"),
        Figure("recovered", "追回医保基金", recovered, "元"),
        Figure("fines", "罚款", fines, "元"),
        Figure("liquidated_damages", "违约金", damages, "元"),
        Figure("surcharges", "加处罚款", surcharges, "元"),
        Figure("smart_recovered", "其中智能监管追回", smart, "元"),
        Figure("self_inspection_refunds", "自查自纠退回", refunds, "元"),
        Figure("ledger_clearance_rate", "问题台账销号率", percent(ledger[1], ledger[0]), "%"),
        Figure("documents", "制发文书", int(documents or 0), "份"),
    )
    tables = (
        _grouped(session, "by_stage", "案件阶段分布", "阶段", Case.stage, penalty),
        _by_outcome(session, penalty),
        _by_violation(session, filed),
        _by_institution(session, filed),
        Table(
            "review",
            "决定的审核与讨论",
            ("程序", "件数", "占决定数（%）"),
            (
                ("作出处理决定", decisions, percent(decisions, decisions)),
                ("经法制审核", decided_reviewed, percent(decided_reviewed, decisions)),
                ("经集体讨论", discussed, percent(discussed, decisions)),
            ),
        ),
        _stage_times(session, where),
        _referrals(session, where),
        Table(
            "ledger",
            "问题台账整改销号",
            ("状态", "件数"),
            (("已销号", ledger[1]), ("转立案查处", ledger[2]), ("整改中", ledger[0] - ledger[1] - ledger[2])),
            chart="pie",
        ),
        Table("per_year", "行政处罚案件数（近三年）", ("年度", "件数"), tuple(per_year)),
        _per_month(session, filed),
    )
    return Statistics(scope, unit_name, figures, tables)


def cases_per_year(session: Session, unit: str, years: Iterable[int]) -> list[tuple[int, int]]:
    """(year, penalty cases filed in it) for each year, in `unit`."""
    _, in_unit = _unit_clause(session, unit)
    out = []
    for year in years:
        lo, hi = Scope(date(year, 1, 1), date(year, 12, 31), unit).bounds()
        count = session.scalar(
            select(func.count(Case.id)).where(
                Case.opened_at >= lo,
                Case.opened_at < hi,
                in_unit,
                Case.kind.in_(PENALTY_KINDS),
                Case.status.not_in(NOT_FILED),
            )
        )
        out.append((year, int(count or 0)))
    return out


def _grouped(
    session: Session, key: str, title: str, label: str, column: Any, where: ColumnElement[bool]
) -> Table:
    rows = session.execute(
        select(column, func.count(Case.id))
        .where(where)
        .group_by(column)
        .order_by(func.count(Case.id).desc(), column)
    ).all()
    return Table(key, title, (label, "件数"), tuple((value or "（未开始）", n) for value, n in rows))


def _by_outcome(session: Session, where: ColumnElement[bool]) -> Table:
    """Outcomes cut at the first "：" (the rest is the officer's reason); none yet: the status."""
    counts: Counter[str] = Counter()
    query = select(Case.status, Case.outcome, func.count(Case.id)).where(where)
    for status, outcome, n in session.execute(query.group_by(Case.status, Case.outcome)):
        counts[(outcome or "").split("：")[0] or STATUS_NAMES.get(status, status)] += n
    return Table("by_outcome", "案件处理结果", ("结果", "件数"), tuple(counts.most_common()), chart="pie")


def _by_violation(session: Session, where: ColumnElement[bool]) -> Table:
    # The lists are grouped as text in SQL and split here: SQLite and PostgreSQL unnest JSON differently.
    counts: Counter[str] = Counter()
    as_text = cast(Case.violation_types, Text)
    for raw, n in session.execute(select(as_text, func.count(Case.id)).where(where).group_by(as_text)):
        for label in json.loads(raw or "[]") or ["（未认定）"]:
            counts[label] += n
    return Table(
        "by_violation", "违法类型（一案可有多种）", ("违法类型", "件数"), tuple(counts.most_common())
    )


def _by_institution(session: Session, where: ColumnElement[bool]) -> Table:
    query = (
        select(
            Case.party_type,
            Case.institution_type,
            func.count(Case.id),
            _money(Case.fine),
            _money(Case.amount_recovered),
        )
        .where(where)
        .group_by(Case.party_type, Case.institution_type)
    )
    merged: dict[str, list[Any]] = {}
    for party_type, kind, n, fines, recovered in session.execute(query):
        if party_type == "person":
            label = "参保人"
        else:
            label = INSTITUTION_TYPES.get(kind, kind) if kind else "机构（未填类型）"
        row = merged.setdefault(label, [0, Decimal(0), Decimal(0)])
        row[0] += n
        row[1] += _yuan(fines)
        row[2] += _yuan(recovered)
    rows = sorted(((k, *v) for k, v in merged.items()), key=lambda r: (-r[1], r[0]))
    return Table(
        "by_institution", "当事人类型", ("类型", "件数", "罚款（元）", "追回金额（元）"), tuple(rows)
    )


def _beijing(session: Session, column: Any, fmt: str) -> Any:
    """A UTC timestamp column as Beijing-time text in SQL: "%Y-%m-%d" or "%Y-%m". The one place that
    speaks dialect: grouping by day or month in the database keeps 100 000 rows off the wire."""
    if session.get_bind().dialect.name == "postgresql":
        pg = {"%Y-%m-%d": "YYYY-MM-DD", "%Y-%m": "YYYY-MM"}[fmt]
        return func.to_char(func.timezone("Asia/Shanghai", column), pg)
    return func.strftime(fmt, column, "+8 hours")


def _stage_times(session: Session, where: ColumnElement[bool]) -> Table:
    """Per stage: working days a case spent in it (first task opened → last task done), average and
    90th percentile; and the share of its tasks done by their due time."""
    cal = calendar.load_calendar(session)
    per_case = (
        select(
            Task.stage.label("stage"),
            func.min(Task.created_at).label("opened"),
            func.max(Task.completed_at).label("done"),
        )
        .join(Case, Case.id == Task.case_id)
        .where(where, Task.state == TaskState.COMPLETED, Task.stage != "")
        .group_by(Task.stage, Task.case_id)
        .subquery()
    )
    opened_day = _beijing(session, per_case.c.opened, "%Y-%m-%d")
    done_day = _beijing(session, per_case.c.done, "%Y-%m-%d")
    spans = session.execute(
        select(per_case.c.stage, opened_day, done_day, func.count(), func.min(per_case.c.opened)).group_by(
            per_case.c.stage, opened_day, done_day
        )
    ).all()
    days: dict[str, list[int]] = {}
    first_seen: dict[str, datetime] = {}
    for stage, a, b, n, earliest in spans:
        span = calendar.workdays_between(cal, date.fromisoformat(a), date.fromisoformat(b))
        days.setdefault(stage, []).extend([span] * n)
        first_seen[stage] = min(first_seen.get(stage, earliest), earliest)
    timed = (
        select(Task.stage, func.count(Task.id), _count(Task.completed_at <= Task.due_at))
        .join(Case, Case.id == Task.case_id)
        .where(where, Task.state == TaskState.COMPLETED, Task.stage != "", Task.due_at.is_not(None))
        .group_by(Task.stage)
    )
    on_time = {stage: (int(n), int(ok)) for stage, n, ok in session.execute(timed)}
    rows = []
    for stage in sorted(days, key=lambda s: first_seen[s]):
        sample = days[stage]
        n, ok = on_time.get(stage, (0, 0))
        average = (Decimal(sum(sample)) / len(sample)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        rows.append((stage, len(sample), average, p90(sample), n, ok, percent(ok, n)))
    columns = (
        "阶段",
        "案件数",
        "平均用时（工作日）",
        "90%分位（工作日）",
        "有期限任务",
        "按期办结",
        "按期率（%）",
    )
    return Table("stage_times", "各阶段用时与按期办结率", columns, tuple(rows), chart="barh", value_column=2)


def _referrals(session: Session, where: ColumnElement[bool]) -> Table:
    query = (
        select(Case.referral_destination, Case.referral_result, func.count(Case.id))
        .where(where, Case.referral_destination != "")
        .group_by(Case.referral_destination, Case.referral_result)
        .order_by(Case.referral_destination, func.count(Case.id).desc())
    )
    rows = tuple((dest, result or "办理中", int(n)) for dest, result, n in session.execute(query))
    return Table("referrals", "移送案件（部门与结果）", ("移送部门", "结果", "件数"), rows, value_column=2)


def _ledger(session: Session, where: ColumnElement[bool]) -> tuple[int, int, int]:
    """(problems, 销号, 转立案) of the problem ledger."""
    ledger = and_(where, Case.kind == "ledger_clearance")
    row = session.execute(
        select(
            _count(ledger),
            _count(and_(ledger, Case.status == "closed")),
            _count(and_(ledger, Case.status == "referred")),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _per_month(session: Session, where: ColumnElement[bool]) -> Table:
    month = _beijing(session, Case.opened_at, "%Y-%m")
    counts = dict(session.execute(select(month, func.count(Case.id)).where(where).group_by(month)).all())
    return Table(
        "per_month", "行政处罚案件数（按登记月份）", ("月份", "件数"), tuple(sorted(counts.items())), "line"
    )


def record_generation(
    session: Session, actor: Actor, *, what: str, scope: Scope, file_name: str, sha256: str
) -> None:
    """Audit one generated report or export (年度报告, 月报, 季报, CSV, XLSX)."""
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="statistics.generate",
        object_type="report",
        object_id=what,
        detail={
            "start": scope.start.isoformat(),
            "end": scope.end.isoformat(),
            "unit": scope.unit,
            "file_name": file_name,
            "sha256": sha256,
        },
    )
