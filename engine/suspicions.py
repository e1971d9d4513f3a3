"""智能监管疑点: suspicious settlements exported by the smart-supervision system, imported from CSV
or JSON (format: docs/suspicion-import.md). Each row is checked on its own: a broken row is reported
by its line with a Chinese reason and the others are imported. A record is identified by its source
system and record id (unique in the table), so importing a file again creates nothing twice.

New records are grouped per institution: one clue (a penalty_case instance, clue source 智能监管疑点)
per institution, or the institution's clue that is still being verified gets the new records — an
officer verifies an institution, not a single settlement."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from engine import audit, instances, transfers
from engine.cases import INSTITUTION_TYPES
from engine.clock import utcnow
from engine.errors import InputError
from engine.models import Case, SuspicionRecord
from engine.users import Actor

PROCESS_KEY = "penalty_case"
MAX_BYTES = 20 * 1024 * 1024
MAX_AMOUNT = Decimal("1000000000000")
# Column -> (Chinese header also accepted, required, max length)
COLUMNS: dict[str, tuple[str, bool, int]] = {
    "source_system": ("来源系统", True, 64),
    "record_id": ("疑点编号", True, 64),
    "institution_code": ("机构编码", True, 64),
    "institution_name": ("机构名称", True, 100),
    "institution_type": ("机构类型", False, 32),
    "rule_code": ("规则编号", False, 64),
    "rule_name": ("疑点规则", True, 200),
    "settlement_date": ("结算日期", True, 10),
    "amount": ("疑点金额", True, 20),
    "description": ("疑点说明", False, 2000),
}
HEADER_ALIASES = {zh: en for en, (zh, _, _) in COLUMNS.items()} | {en: en for en in COLUMNS}
TYPE_BY_LABEL = {label: code for code, label in INSTITUTION_TYPES.items()}


@dataclass
class ImportResult:
    imported: int = 0
    already: int = 0  # rows imported by an earlier run: skipped
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    cases: list[tuple[int, str, int, bool]] = field(default_factory=list)  # case, institution, rows, new


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.values["source_system"], self.values["record_id"])


def import_file(session: Session, data: bytes, file_name: str, *, actor: Actor) -> ImportResult:
    """Import the records of a CSV or JSON file in the caller's transaction; never raises for a bad
    row (it is in `errors`), raises InputError when the file as a whole cannot be read."""
    if len(data) > MAX_BYTES:
        raise InputError("文件过大（上限 20 MB），请分批导入")
    result = ImportResult()
    rows: list[Row] = []
    seen: dict[tuple[str, str], int] = {}
    for line, raw in _records(data, file_name):
        row, reason = _check(line, raw)
        if reason:
            result.errors.append((line, reason))
            continue
        assert row is not None
        if row.key in seen:
            result.errors.append((line, f"与第 {seen[row.key]} 行的来源系统和疑点编号重复"))
            continue
        seen[row.key] = line
        rows.append(row)
    existing = _existing_keys(session, [r.key for r in rows])
    fresh = [r for r in rows if r.key not in existing]
    result.already = len(rows) - len(fresh)
    by_institution: dict[str, list[Row]] = {}
    for row in fresh:
        by_institution.setdefault(row.values["institution_code"], []).append(row)
    for code, group in by_institution.items():
        case_id, new = _clue_for(session, code, group, actor)
        for row in group:
            session.add(
                SuspicionRecord(
                    **row.values, case_id=case_id, file_name=file_name[:255], line=row.line,
                    imported_by=actor.username, imported_at=utcnow(),
                )
            )  # fmt: skip
        result.cases.append((case_id, group[0].values["institution_name"], len(group), new))
        result.imported += len(group)
    session.flush()  # the unique key decides here: a concurrent import of the same file fails whole
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="suspicion.import",
        object_type="suspicion_import",
        object_id=file_name[:64] or "-",
        detail={
            "imported": result.imported,
            "already": result.already,
            "errors": len(result.errors),
            "cases": [c[0] for c in result.cases],
        },
    )
    return result


def _records(data: bytes, file_name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    text = _decode(data)
    if file_name.lower().endswith(".json") or text.lstrip().startswith("["):
        yield from _json_records(text)
    else:
        yield from _csv_records(text)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError("文件编码无法识别，请保存为 UTF-8 或 GBK 编码")


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("文件为空") from None
    columns = [HEADER_ALIASES.get(h.strip()) for h in header]
    missing = [f"{en}（{zh}）" for en, (zh, req, _) in COLUMNS.items() if req and en not in columns]
    if missing:
        raise InputError(f"第 1 行表头缺少列：{'、'.join(missing)}")
    line = reader.line_num
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                yield start, {"__error__": f"列数为 {len(cells)}，表头为 {len(columns)} 列"}
                continue
            yield start, {c: v for c, v in zip(columns, cells, strict=True) if c}
    except csv.Error as exc:
        raise InputError(f"第 {line + 1} 行 CSV 格式错误：{exc}") from None


def _json_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Items of a top-level array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if text[pos : pos + 1] != "[":
        raise InputError("JSON 文件应为一个数组（[ {...}, {...} ]）")
    pos = _skip_ws(text, pos + 1)
    if text[pos : pos + 1] == "]":
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(f"第 {exc.lineno} 行 JSON 格式错误：{exc.msg}") from None
        if isinstance(item, dict):
            yield line, {HEADER_ALIASES.get(str(k), str(k)): v for k, v in item.items()}
        else:
            yield line, {"__error__": "每条记录应为一个对象（{...}）"}
        pos = _skip_ws(text, pos)
        if text[pos : pos + 1] == ",":
            pos = _skip_ws(text, pos + 1)
        elif text[pos : pos + 1] == "]":
            return
        else:
            raise InputError(f"第 {text.count(chr(10), 0, pos) + 1} 行 JSON 格式错误：缺少逗号或 ]")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _check(line: int, raw: dict[str, Any]) -> tuple[Row | None, str | None]:
    if "__error__" in raw:
        return None, raw["__error__"]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, (label, required, limit) in COLUMNS.items():
        value = raw.get(name)
        text = "" if value is None else str(value).strip()
        if not text:
            if required:
                problems.append(f"缺少{label}")
            values[name] = ""
            continue
        if len(text) > limit:
            problems.append(f"{label}过长（最多 {limit} 个字）")
        values[name] = text
    if values["settlement_date"]:
        try:
            values["settlement_date"] = date.fromisoformat(values["settlement_date"])
        except ValueError:
            problems.append(f"结算日期「{values['settlement_date']}」无效，应为 YYYY-MM-DD")
    if values["amount"]:
        values["amount"], problem = _amount(values["amount"])
        if problem:
            problems.append(problem)
    kind = values["institution_type"]
    if kind:
        values["institution_type"] = TYPE_BY_LABEL.get(kind, kind)
        if values["institution_type"] not in INSTITUTION_TYPES:
            problems.append(f"机构类型「{kind}」无效（可用：{'、'.join(INSTITUTION_TYPES.values())}）")
    if problems:
        return None, "；".join(problems)
    return Row(line, values), None


def _amount(text: str) -> tuple[Decimal | None, str | None]:
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None, f"疑点金额「{text}」不是数字"
    if not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT:
        return None, f"疑点金额「{text}」超出范围"
    if amount != amount.quantize(Decimal("0.01")):
        return None, f"疑点金额「{text}」最多两位小数"
    return amount.quantize(Decimal("0.01")), None


def _existing_keys(session: Session, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        rows = session.execute(
            select(SuspicionRecord.source_system, SuspicionRecord.record_id).where(
                tuple_(SuspicionRecord.source_system, SuspicionRecord.record_id).in_(chunk)
            )
        ).all()
        found |= {(a, b) for a, b in rows}
    return found


def _clue_for(session: Session, institution_code: str, group: list[Row], actor: Actor) -> tuple[int, bool]:
    """The institution's smart-supervision clue still being verified, given the new records; or a
    new clue. Returns (case id, whether it is new)."""
    total = sum((r.values["amount"] for r in group), Decimal("0"))
    open_case = session.scalars(
        select(Case)
        .join(SuspicionRecord, SuspicionRecord.case_id == Case.id)
        .where(SuspicionRecord.institution_code == institution_code, Case.status == "clue")
        .order_by(Case.id.desc())
        .limit(1)
    ).first()
    if open_case is not None:
        open_case.amount_involved = (open_case.amount_involved or Decimal("0")) + total
        audit.record(
            session, actor=actor.username, client_addr=actor.client_addr, action="suspicion.append",
            object_type="case", object_id=str(open_case.id), case_id=open_case.id,
            detail={"records": [r.values["record_id"] for r in group], "amount": str(total)},
        )  # fmt: skip
        return open_case.id, False
    first = group[0].values
    rules = sorted({r.values["rule_name"] for r in group})
    dates = sorted(r.values["settlement_date"] for r in group)
    summary = (
        f"【智能监管疑点】{first['institution_name']}（{institution_code}）{len(group)} 条疑点，"
        f"结算日期 {dates[0]} 至 {dates[-1]}，疑点金额合计 {total} 元。规则：{'；'.join(rules)}"
    )
    variables: dict[str, Any] = {
        "clue_source": "smart",
        "party_name": first["institution_name"],
        "party_type": "institution",
        "clue_summary": summary[:2000],
        "amount_involved": str(total),
    }
    field_ids = {f.id for f in transfers.start_form(session, PROCESS_KEY).fields}
    if first["institution_type"] and "institution_type" in field_ids:
        variables["institution_type"] = first["institution_type"]
    instance = instances.start(session, PROCESS_KEY, actor=actor, variables=variables)
    assert instance.case_id is not None  # the start script registers the case
    return instance.case_id, True
