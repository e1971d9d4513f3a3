"""`ybjg` (医保监管): the engine without the web, on DATABASE_URL (default: the embedded SQLite).
Bad input prints one line and exits 2; it never prints a traceback for a user's mistake."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from engine import (
    audit,
    calendar,
    demo,
    documents,
    evidence,
    instances,
    migrate,
    migration,
    registry,
    reminders,
    seed,
    suspicions,
    tasks,
    timers,
    versions,
)
from engine.clock import to_beijing
from engine.db import ROOT, default_url, make_engine, make_session_factory, unit_of_work
from engine.errors import DefinitionInvalidError, DomainError, InputError
from engine.models import InstanceStatus, ProcessInstance, Task
from engine.users import SYSTEM, Actor, actor_for, create_api_token


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


_engines: list[Engine] = []


def _factory() -> sessionmaker[Session]:
    if not _engines:
        _engines.append(make_engine(database_url()))
    return make_session_factory(_engines[0])


def _actor(session: Session, username: str | None) -> Actor:
    return SYSTEM if not username else actor_for(session, username)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=None, default=str))


def _iso(value: Any) -> str | None:
    return None if value is None else to_beijing(value).isoformat(timespec="seconds")


def database_url() -> str:
    """DATABASE_URL, else the embedded SQLite file under instance/."""
    return os.environ.get("DATABASE_URL") or default_url()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    migrate.upgrade(database_url())
    print("数据库已迁移到最新版本")
    return 0


# The .docx generator lives in integrations/, which engine/ never imports; the CLI is an entry point and
# wires it in by name, as webui/views/documents.py does for the web.
DOCX_RENDERER = ("integrations.documents", "DocxRenderer")


def demo_stores() -> demo.Stores:
    """The renderer and the document and evidence directories (YBJG_DOCUMENT_DIR, YBJG_EVIDENCE_DIR,
    default under instance/, the same as the web app's)."""
    module, name = DOCX_RENDERER
    renderer: documents.Renderer = getattr(importlib.import_module(module), name)()
    instance_dir = ROOT / "instance"
    return demo.Stores(
        renderer,
        Path(os.environ.get("YBJG_DOCUMENT_DIR") or instance_dir / "documents"),
        evidence.EvidenceStore(os.environ.get("YBJG_EVIDENCE_DIR") or instance_dir / "evidence"),
    )


def cmd_seed(args: argparse.Namespace) -> int:
    with unit_of_work(_factory()) as session:
        counts = seed.seed_reference(session)
        if args.demo:
            counts["users"] = seed.seed_demo_accounts(session)
    if args.demo:  # after the accounts are committed: the demo cases are worked by them
        with unit_of_work(_factory()) as session:
            counts["demo_cases"] = demo.seed_demo_cases(session, demo_stores())
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _uploads(paths: Sequence[str]) -> list[registry.Upload]:
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(f"文件不存在：{p}")
        out.append(registry.Upload(path.name, path.read_bytes()))
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    with _factory()() as session:
        _, problems = registry.check(session, _uploads(args.files))
    for p in problems:
        print(str(p))
    if problems:
        print(f"校验未通过：{len(problems)} 个问题", file=sys.stderr)
        return 1
    print("校验通过")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    with unit_of_work(_factory()) as session:
        created = registry.deploy(session, _uploads(args.files), actor=args.user or "system")
        lines = [f"{d.key} v{d.version} ({d.file_name})" for d in created]
    print("\n".join(lines) if lines else "没有变化：所有文件与已部署版本相同")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Dry run (default) or move instances of KEY to version --to; one transaction per instance."""
    factory = _factory()
    with factory() as session:
        target = versions.get_version(session, args.key, args.to)
        ids = list(args.instance)
        if args.all_of is not None:
            ids += migration.running_on(session, versions.get_version(session, args.key, args.all_of).id)
        if not ids:
            raise InputError("请用 --instance 或 --all-of 指定要迁移的实例")
        plan = migration.plan(session, sorted(set(ids)), target.id, _actor(session, args.user))
    failed = 0
    for item in plan:
        if item.ok and not args.dry_run:
            try:
                with unit_of_work(factory) as session:
                    migration.migrate(session, item.instance_id, target.id, actor=_actor(session, args.user))
            except DomainError as exc:
                item.ok, item.reasons = False, [exc.detail]
        failed += not item.ok
        verdict = ("可以迁移" if args.dry_run else "已迁移") if item.ok else "不能迁移"
        print(f"实例 {item.instance_id}: {verdict}：{'；'.join(item.notes if item.ok else item.reasons)}")
    return 1 if failed else 0


def cmd_migrate_back(args: argparse.Namespace) -> int:
    with unit_of_work(_factory()) as session:
        row = migration.revert(session, args.instance, actor=_actor(session, args.user))
    print(f"实例 {args.instance} 已撤销第 {row.id} 号迁移，回到原版本")
    return 0


def cmd_processes(args: argparse.Namespace) -> int:
    with _factory()() as session:
        rows = registry.summaries(session)
    if args.json:
        _print_json([r.__dict__ for r in rows])
    else:
        for r in rows:
            print(f"{r.key:24} v{r.version:<4} {r.kind:9} 运行中 {r.running:<6} {r.name}")
    return 0


def _parse_vars(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--var 应写成 名称=值，而不是「{pair}」")
        out[key.strip()] = value
    return out


def cmd_start(args: argparse.Namespace) -> int:
    with unit_of_work(_factory()) as session:
        actor = _actor(session, args.user)
        instance = instances.start(session, args.key, actor=actor, variables=_parse_vars(args.var or []))
        instance_id = instance.id
    if args.json:
        _print_json({"instance_id": instance_id})
    else:
        print(instance_id)
    return 0


def _task_json(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "instance_id": t.instance_id,
        "case_id": t.case_id,
        "process": t.process_key,
        "bpmn_id": t.bpmn_id,
        "name": t.name,
        "role": t.role,
        "candidate_groups": t.candidate_groups,
        "assignee": t.assignee,
        "state": str(t.state),
        "created_at": _iso(t.created_at),
        "due_at": _iso(t.due_at),
        "due_unverified": t.due_unverified,
        "priority": t.priority,
    }


def cmd_tasks(args: argparse.Namespace) -> int:
    with _factory()() as session:
        actor = actor_for(session, args.user) if args.user else None
        rows = [
            _task_json(t) for t in tasks.list_open(session, actor=actor, role=args.role, limit=args.limit)
        ]
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            due = (r["due_at"] or "-") + (" (日历未核实)" if r["due_unverified"] else "")
            who = r["assignee"] or "-"
            print(f"{r['id']:>6}  {r['process']:16} {r['name']:16} {r['role']:16} {who:10} {due}")
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.data)
    except json.JSONDecodeError as exc:
        raise InputError(f"--data 不是有效的 JSON：{exc.msg}") from None
    if not isinstance(data, dict):
        raise InputError('--data 应是 JSON 对象，例如 \'{"decision": "file"}\'')
    with unit_of_work(_factory()) as session:
        task = tasks.complete(session, args.task_id, actor=actor_for(session, args.user), data=data)
        name = task.name
    print(f"已办理：{name}")
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    factory = _factory()
    if args.once:
        handled = timers.fire_due(factory)
        print(f"已处理 {len(handled)} 个到期定时器的流程实例")
        print(f"已发出 {reminders.escalate_due(factory)} 条到期提醒和督办通知")
        return 0
    stop = threading.Event()
    print("调度器运行中（Ctrl+C 停止）", flush=True)
    try:
        timers.run_scheduler(factory, stop, interval=args.interval)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    with _factory()() as session:
        result = audit.verify(session)
    print(f"{'完整' if result.ok else '发现篡改'}：已核对 {result.checked} 条。{result.reason}")
    return 0 if result.ok else 1


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"日期应为 YYYY-MM-DD，而不是「{text}」") from None


def cmd_calendar_add(args: argparse.Namespace) -> int:
    with _factory()() as session:
        deadline = calendar.add_workdays(calendar.load_calendar(session), _date(args.date), args.n)
    print(deadline.day.isoformat() + (" unverified" if deadline.unverified else ""))
    return 0


def cmd_calendar_set(args: argparse.Namespace) -> int:
    with unit_of_work(_factory()) as session:
        calendar.set_day(
            session, _date(args.date), args.kind, actor=args.user or "admin", name=args.name or ""
        )
    print(f"{args.date} 已设为{'工作日' if args.kind == 'workday' else '休息日'}")
    return 0


def cmd_calendar_confirm(args: argparse.Namespace) -> int:
    with unit_of_work(_factory()) as session:
        calendar.confirm_year(session, args.year, actor=args.user or "admin")
    print(f"{args.year} 年工作日历已确认")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    with unit_of_work(_factory()) as session:
        token = create_api_token(session, args.user, args.name)
    print(token)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _factory()() as session:
        running = session.scalar(
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.status == InstanceStatus.RUNNING)
        )
    print(f"运行中的流程实例：{running}")
    return 0


def cmd_import_suspicions(args: argparse.Namespace) -> int:
    """Import 智能监管疑点 (docs/suspicion-import.md); exit 1 when some rows were refused."""
    path = Path(args.file)
    if not path.is_file():
        raise InputError(f"文件不存在：{path}")
    with unit_of_work(_factory()) as session:
        result = suspicions.import_file(
            session, path.read_bytes(), path.name, actor=_actor(session, args.user)
        )
    if args.json:
        _print_json(
            {"imported": result.imported, "already": result.already, "errors": result.errors,
             "cases": [{"case_id": c, "institution": n, "records": k, "new": new}
                       for c, n, k, new in result.cases]}
        )  # fmt: skip
    else:
        print(
            f"新导入 {result.imported} 条，此前已导入跳过 {result.already} 条，有问题 {len(result.errors)} 行"
        )
        for case_id, name, records, new in result.cases:
            print(f"案件 {case_id} {name}：{records} 条疑点（{'新线索' if new else '并入核查中的线索'}）")
        for line, reason in result.errors:
            print(f"{path.name}:{line}: {reason}", file=sys.stderr)
    return 1 if result.errors else 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ybjg", description="医保基金监管执法案件流程系统 命令行")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    db = sub.add_parser("db", help="数据库").add_subparsers(
        dest="db_command", required=True, parser_class=_Parser
    )
    db.add_parser("upgrade", help="迁移到最新版本").set_defaults(func=cmd_db_upgrade)

    s = sub.add_parser("seed", help="写入工作日历、期限规则、内置流程（--demo 加演示账号和演示案件）")
    s.add_argument("--demo", action="store_true")
    s.set_defaults(func=cmd_seed)

    v = sub.add_parser("validate", help="校验 BPMN/DMN 文件")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("deploy", help="部署 BPMN/DMN 文件")
    d.add_argument("files", nargs="+")
    d.add_argument("--user")
    d.set_defaults(func=cmd_deploy)

    pr = sub.add_parser("processes", help="已部署的流程与版本")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_processes)
    mg = sub.add_parser("migrate", help="把运行中的实例迁移到另一版本（加 --dry-run 只预演）")
    mg.add_argument("key")
    mg.add_argument("--to", type=int, required=True, help="目标版本号")
    mg.add_argument("--instance", type=int, action="append", default=[], help="实例编号（可重复）")
    mg.add_argument("--all-of", type=int, help="该版本的全部运行中实例")
    mg.add_argument("--dry-run", action="store_true")
    mg.add_argument("--user", default="modeler")
    mg.set_defaults(func=cmd_migrate)
    mb = sub.add_parser("migrate-back", help="撤销实例最近一次迁移（迁移后尚无任何操作时）")
    mb.add_argument("instance", type=int)
    mb.add_argument("--user", default="modeler")
    mb.set_defaults(func=cmd_migrate_back)

    st = sub.add_parser("start", help="启动流程实例，打印实例编号")
    st.add_argument("key")
    st.add_argument("--var", action="append", metavar="名称=值")
    st.add_argument("--user")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_start)

    t = sub.add_parser("tasks", help="待办任务")
    group = t.add_mutually_exclusive_group()
    group.add_argument("--user")
    group.add_argument("--role")
    t.add_argument("--limit", type=int, default=200)
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_tasks)

    c = sub.add_parser("complete", help="办理任务")
    c.add_argument("task_id", type=int)
    c.add_argument("--user", required=True)
    c.add_argument("--data", default="{}")
    c.set_defaults(func=cmd_complete)

    sc = sub.add_parser("scheduler", help="定时器调度器")
    sc.add_argument("--once", action="store_true")
    sc.add_argument("--interval", type=float, default=5.0)
    sc.set_defaults(func=cmd_scheduler)

    a = sub.add_parser("audit", help="全过程记录").add_subparsers(
        dest="audit_command", required=True, parser_class=_Parser
    )
    a.add_parser("verify", help="核对哈希链").set_defaults(func=cmd_audit_verify)

    cal = sub.add_parser("calendar", help="工作日历").add_subparsers(
        dest="cal_command", required=True, parser_class=_Parser
    )
    aw = cal.add_parser("add-workdays", help="DATE 之后第 N 个工作日")
    aw.add_argument("date")
    aw.add_argument("n", type=int)
    aw.set_defaults(func=cmd_calendar_add)
    cs = cal.add_parser("set", help="把某天设为工作日或休息日")
    cs.add_argument("date")
    cs.add_argument("kind", choices=["workday", "holiday"])
    cs.add_argument("--name")
    cs.add_argument("--user")
    cs.set_defaults(func=cmd_calendar_set)
    cy = cal.add_parser("confirm-year", help="确认某年的节假日已录入完整")
    cy.add_argument("year", type=int)
    cy.add_argument("--user")
    cy.set_defaults(func=cmd_calendar_confirm)

    tok = sub.add_parser("token", help="API 令牌").add_subparsers(
        dest="token_command", required=True, parser_class=_Parser
    )
    tc = tok.add_parser("create", help="为用户创建 API 令牌（只显示一次）")
    tc.add_argument("user")
    tc.add_argument("--name", default="api")
    tc.set_defaults(func=cmd_token_create)

    sub.add_parser("status", help="概况").set_defaults(func=cmd_status)
    im = sub.add_parser(
        "import-suspicions", help="导入智能监管疑点（CSV 或 JSON，格式见 docs/suspicion-import.md）"
    )
    im.add_argument("file")
    im.add_argument("--user", help="导入人（默认 system）")
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_import_suspicions)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args))
    except UsageError as exc:
        print(f"用法错误：{exc}（ybjg --help 查看用法）", file=sys.stderr)
        return 2
    except DefinitionInvalidError as exc:
        for f, e, m in exc.problems:
            print(f"{f}: {e or '-'}: {m}", file=sys.stderr)
        print(f"错误：{exc.message}（{len(exc.problems)} 个问题）", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"错误：{exc.detail}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:
        print(
            f"错误：数据库不可用或尚未迁移（先运行 ybjg db upgrade）：{str(exc.orig).strip()[:200]}",
            file=sys.stderr,
        )
        return 2
    finally:
        while _engines:
            _engines.pop().dispose()


if __name__ == "__main__":
    sys.exit(main())
