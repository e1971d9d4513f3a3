"""流程管理: deployed processes and decision tables with their versions and the instances on each;
the embedded modeller (drafts, validation, comparison, deployment); uploads from Camunda Modeler;
migration of running instances; heat maps. Deploying and migrating are for 流程管理员 only."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from engine import definition_diff, drafts, migration, registry, versions
from engine.clock import utcnow
from engine.errors import DefinitionInvalidError, DomainError, InputError
from engine.workflow.validate import MAX_FILE_BYTES
from webui import errors
from webui.auth import actor, roles_required
from webui.db import get_session, unit_of_work
from webui.display import when

bp = Blueprint("processes", __name__, url_prefix="/processes")

OWNER = ("process_admin",)
VIEWERS = ("process_admin", "supervisor")
MAX_UPLOAD_FILES = 20


def _render_index(errors: list[str] | None = None, status: int = 200) -> ResponseReturnValue:
    s = get_session()
    return render_template(
        "processes.html",
        keys=versions.overview(s),
        drafts=drafts.list_for(s, actor().username),
        upload_errors=errors or [],
        limit_mb=MAX_FILE_BYTES // (1024 * 1024),
    ), status


@bp.get("/")
@roles_required(*VIEWERS)
def index() -> ResponseReturnValue:
    return _render_index()


@bp.get("/<key>")
@roles_required(*VIEWERS)
def show(key: str) -> ResponseReturnValue:
    s = get_session()
    rows = registry.versions_of(s, key)
    usage = {v.definition.id: v.running for k in versions.overview(s) if k.key == key for v in k.versions}
    instances = {d.id: versions.instances_on(s, d) for d in rows}
    history = migration.history(s, [d.id for d in rows])
    return render_template(
        "processes_key.html",
        key=key,
        rows=rows,
        usage=usage,
        instances=instances,
        history=history,
        versions_by_id={d.id: d.version for d in rows},
    )


@bp.get("/<key>/<int:version>/download")
@roles_required(*VIEWERS)
def download(key: str, version: int) -> ResponseReturnValue:
    """The deployed file exactly as stored: it opens in Camunda Modeler 7."""
    d = versions.get_version(get_session(), key, version)
    return send_file(
        BytesIO(d.xml.encode("utf-8")),
        mimetype="application/xml",
        as_attachment=True,
        download_name=d.file_name,
    )


# --- heat map -------------------------------------------------------------------------------------
@bp.get("/<key>/<int:version>/heatmap")
@roles_required(*VIEWERS)
def heatmap(key: str, version: int) -> ResponseReturnValue:
    s = get_session()
    d = versions.get_version(s, key, version)
    cells = sorted(versions.heatmap(s, d, now=utcnow()).values(), key=lambda c: (-c.waiting, c.name))
    return render_template("processes_heatmap.html", d=d, cells=cells)


@bp.get("/<key>/<int:version>/heatmap.json")
@roles_required(*VIEWERS)
def heatmap_json(key: str, version: int) -> ResponseReturnValue:
    s = get_session()
    d = versions.get_version(s, key, version)
    cells = versions.heatmap(s, d, now=utcnow())
    return jsonify(
        {
            "key": d.key,
            "version": d.version,
            "xml": d.xml,
            "cells": {
                c.bpmn_id: {
                    "waiting": c.waiting,
                    "overdue": c.overdue,
                    "done": c.done,
                    "hours": c.average_hours,
                }
                for c in cells.values()
            },
        }
    )


# --- migration ------------------------------------------------------------------------------------
def _selected(key: str) -> tuple[list[int], int]:
    target = request.form.get("target", "")
    if not target.isdigit():
        raise InputError("请选择目标版本")
    ids = [int(i) for i in request.form.getlist("instance") if i.isdigit()]
    source = request.form.get("all_of", "")
    if source.isdigit():
        ids += migration.running_on(get_session(), int(source))
    if not ids:
        raise InputError("请至少选择一个实例，或选择“该版本全部运行中实例”")
    return sorted(set(ids)), int(target)


@bp.post("/<key>/migrate")
@roles_required(*OWNER)
def migrate(key: str) -> ResponseReturnValue:
    try:
        ids, target = _selected(key)
    except InputError as exc:
        flash(exc.detail, "error")
        return redirect(url_for("processes.show", key=key))
    s = get_session()
    if request.form.get("action") != "run":
        items = migration.plan(s, ids, target, actor())
        s.rollback()  # the dry run loaded workflows only; nothing may be written
        return render_template("processes_migrate.html", key=key, items=items, target=target, done=False)
    results = []
    for instance_id in ids:  # one transaction per instance: one that cannot move stops no other
        try:
            with unit_of_work() as session:
                results.append(migration.migrate(session, instance_id, target, actor=actor()))
        except DomainError as exc:
            item = migration.PlanItem(instance_id, None, 0, 0, reasons=[exc.detail])
            results.append(item)
    moved = sum(1 for r in results if r.ok)
    flash(f"已迁移 {moved} 个实例" + (f"，{len(results) - moved} 个未迁移" if moved < len(results) else ""))
    return render_template("processes_migrate.html", key=key, items=results, target=target, done=True)


@bp.post("/instances/<id:instance_id>/revert")
@roles_required(*OWNER)
def revert(instance_id: int) -> ResponseReturnValue:
    key = request.form.get("key", "")
    try:
        with unit_of_work() as s:
            migration.revert(s, instance_id, actor=actor())
        flash(f"实例 {instance_id} 已撤销迁移，回到原版本继续办理")
    except InputError as exc:
        flash(exc.detail, "error")
    return redirect(url_for("processes.show", key=key) if key else url_for("processes.index"))


# --- upload ---------------------------------------------------------------------------------------
@bp.post("/upload")
@roles_required(*OWNER)
def upload() -> ResponseReturnValue:
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        return _render_index(["请选择要上传的 .bpmn 或 .dmn 文件"], 400)
    if len(files) > MAX_UPLOAD_FILES:
        return _render_index([f"一次最多上传 {MAX_UPLOAD_FILES} 个文件"], 400)
    uploads, errors = [], []
    for f in files:
        name = Path(f.filename or "").name
        try:
            data = f.stream.read(MAX_FILE_BYTES + 1)
        finally:
            f.close()  # a large upload is spooled to a temporary file: close it now
        try:
            drafts.kind_of(name)
        except InputError as exc:
            errors.append(f"{name}：{exc.detail}")
            continue
        data = drafts.normalize(data)
        errors += [_problem_text(p.file, p.element, p.message) for p in drafts.check_readable(name, data)]
        uploads.append(registry.Upload(name, data))
    if errors:
        return _render_index(errors, 400)
    if request.form.get("action") == "deploy":
        try:
            with unit_of_work() as s:
                created = registry.deploy(s, uploads, actor=actor().username)
                done = [f"{d.name or d.key} 第 {d.version} 版" for d in created]
        except DefinitionInvalidError as exc:
            return _render_index([_problem_text(*p) for p in exc.problems], 400)
        flash("已部署：" + "、".join(done) if done else "内容与已部署版本相同，没有产生新版本")
        return redirect(url_for("processes.index"))
    with unit_of_work() as s:
        for u in uploads:
            drafts.save(s, u.name, u.data.decode("utf-8"), actor=actor())
    if len(uploads) == 1:
        return redirect(url_for("processes.modeller", file=uploads[0].name))
    flash(f"已保存为草稿：{'、'.join(u.name for u in uploads)}")
    return redirect(url_for("processes.index"))


def _problem_text(file: str, element: str, message: str) -> str:
    return f"{file}{'（' + element + '）' if element else ''}：{message}"


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    limit = MAX_FILE_BYTES // (1024 * 1024)
    message = f"上传内容过大：每个流程文件不得超过 {limit} MB，没有保存任何内容"
    if request.endpoint == "processes.upload":
        return _render_index([message], 413)
    return jsonify({"error": message}), 413


# --- modeller -------------------------------------------------------------------------------------
JSON_ENDPOINTS = {"processes.modeller_" + n for n in ("source", "save", "validate", "diff", "deploy")}


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError) -> ResponseReturnValue:
    """The modeller's requests get their error as JSON (the page shows it); pages get the error page."""
    if request.endpoint in JSON_ENDPOINTS:
        return jsonify({"error": exc.detail}), errors.status_of(exc)
    return errors.handle_domain_error(exc)


def _file() -> str:
    name = request.args.get("file", "")
    drafts.kind_of(name)  # InputError for a bad name
    return name


def _bundle_built() -> bool:
    return (Path(current_app.static_folder or "") / "build" / "modeller.js").is_file()


@bp.get("/modeller")
@roles_required(*OWNER)
def modeller() -> ResponseReturnValue:
    name = _file()
    src = drafts.source(get_session(), name, actor().username)
    return render_template("processes_modeller.html", src=src, built=_bundle_built())


@bp.get("/modeller/source.json")
@roles_required(*OWNER)
def modeller_source() -> ResponseReturnValue:
    src = drafts.source(get_session(), _file(), actor().username)
    base = src.base
    return jsonify(
        {
            "file": src.file_name,
            "kind": src.kind,
            "xml": src.xml,
            "draft": {"updated_at": when(src.draft.updated_at)} if src.draft else None,
            "base_label": f"已部署的第 {base.version} 版" if base else "上传的文件",
        }
    )


def _xml() -> str:
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        raise InputError("请求中没有流程文件内容")
    return str(body["xml"])


def _problems_json(problems: list[Any]) -> list[dict[str, str]]:
    return [{"file": p[0], "element": p[1], "message": p[2]} for p in problems]


@bp.post("/modeller/save")
@roles_required(*OWNER)
def modeller_save() -> ResponseReturnValue:
    name, xml = _file(), _xml()
    try:
        with unit_of_work() as s:
            draft = drafts.save(s, name, xml, actor=actor())
            saved = when(draft.updated_at)
    except DefinitionInvalidError as exc:
        return jsonify({"problems": _problems_json(exc.problems)}), 400
    return jsonify({"updated_at": saved})


@bp.post("/modeller/validate")
@roles_required(*OWNER)
def modeller_validate() -> ResponseReturnValue:
    problems = drafts.validate(get_session(), _file(), _xml())
    return jsonify({"problems": _problems_json([(p.file, p.element, p.message) for p in problems])})


@bp.post("/modeller/diff")
@roles_required(*OWNER)
def modeller_diff() -> ResponseReturnValue:
    name, xml = _file(), _xml()
    base = registry.latest_file(get_session(), name)
    if base is None:
        return jsonify({"base": None, "changes": []})
    try:
        changes = definition_diff.compare(base.xml, drafts.normalize(xml.encode()).decode())
    except Exception as exc:  # unreadable XML is the user's to fix, not a server error
        raise InputError(f"文件无法解析：{exc}") from exc
    return jsonify(
        {
            "base": f"第 {base.version} 版",
            "changes": [
                {
                    "kind": c.kind,
                    "id": c.id,
                    "type": c.type,
                    "name": c.name,
                    "props": [{"key": p.key, "old": p.old, "new": p.new} for p in c.props],
                }
                for c in changes
            ],
        }
    )


@bp.post("/modeller/deploy")
@roles_required(*OWNER)
def modeller_deploy() -> ResponseReturnValue:
    name, xml = _file(), _xml()
    try:
        with unit_of_work() as s:
            created = drafts.deploy(s, name, xml, actor=actor())
            deployed = [{"key": d.key, "name": d.name, "version": d.version} for d in created]
    except DefinitionInvalidError as exc:
        return jsonify({"problems": _problems_json(exc.problems)}), 400
    return jsonify({"deployed": deployed, "problems": []})


@bp.post("/modeller/discard")
@roles_required(*OWNER)
def modeller_discard() -> ResponseReturnValue:
    name = request.form.get("file", "")
    with unit_of_work() as s:
        found = drafts.discard(s, name, actor=actor())
    flash(f"已放弃草稿 {name}" if found else "没有该草稿")
    return redirect(url_for("processes.index"))
