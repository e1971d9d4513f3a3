"""JSON API beside the HTML: list tasks, read a task's form, claim and complete it, read a case.
Bearer tokens (`ybjg token create USER`) or the browser session (with the X-CSRF-Token header)."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from marshmallow import Schema, fields
from sqlalchemy import select

from engine import inbox, starts, tasks
from engine.clock import utcnow
from engine.errors import InputError
from engine.models import ApiToken, LegalClock, ProcessInstance, Task, TaskState, User
from engine.users import bureau_of, can_work, token_digest
from webui import formschema
from webui.auth import SignedInUser, actor, login_manager
from webui.db import get_session, unit_of_work
from webui.views.cases import visible_case

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_PER_PAGE = 100


# --- schemas -------------------------------------------------------------------------------
class ErrorOut(Schema):
    error = fields.String(required=True, metadata={"description": "中文错误说明"})
    fields = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "逐字段错误"})


class TaskOut(Schema):
    id = fields.Integer(required=True)
    instance_id = fields.Integer(required=True)
    case_id = fields.Integer(allow_none=True)
    process = fields.String(attribute="process_key", required=True)
    bpmn_id = fields.String(required=True)
    name = fields.String(required=True)
    stage = fields.String()
    role = fields.String()
    candidate_groups = fields.List(fields.String())
    assignee = fields.String(allow_none=True)
    state = fields.String(required=True)
    priority = fields.Integer()
    created_at = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)
    due_unverified = fields.Boolean()
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)


class TaskPageOut(Schema):
    items = fields.List(fields.Nested(TaskOut), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class FieldOut(Schema):
    id = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True)
    widget = fields.String(required=True)
    required = fields.Boolean(required=True)
    readonly = fields.Boolean(required=True)
    default = fields.String(allow_none=True)
    options = fields.List(fields.List(fields.String()))


class TaskDetailOut(TaskOut):
    form_fields = fields.List(fields.Nested(FieldOut), required=True)
    draft = fields.Dict(allow_none=True)
    form_data = fields.Dict(allow_none=True)


class CompleteIn(Schema):
    data = fields.Dict(keys=fields.String(), required=True, metadata={"description": "表单字段值"})


class CompleteOut(Schema):
    completed = fields.Nested(TaskOut, required=True)
    next = fields.List(fields.Nested(TaskOut), required=True)


class StartOut(Schema):
    instance_id = fields.Integer(required=True)
    case_id = fields.Integer(allow_none=True)
    tasks = fields.List(
        fields.Nested(TaskOut), required=True, metadata={"description": "流程的第一批待办环节"}
    )


class ClockOut(Schema):
    name = fields.String(required=True)
    status = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    amount = fields.Integer(required=True)
    unit = fields.String(required=True)
    extended = fields.Integer()
    due_at = fields.DateTime(allow_none=True)
    due_unverified = fields.Boolean()


class CaseOut(Schema):
    id = fields.Integer(required=True)
    number = fields.String(allow_none=True)
    title = fields.String()
    party_name = fields.String()
    party_type = fields.String()
    status = fields.String()
    stage = fields.String()
    outcome = fields.String()
    violation_types = fields.List(fields.String())
    amount_involved = fields.Decimal(as_string=True, allow_none=True)
    amount_recovered = fields.Decimal(as_string=True, allow_none=True)
    fine = fields.Decimal(as_string=True, allow_none=True)
    penalty_interest = fields.Decimal(as_string=True, allow_none=True)
    legal_review = fields.Boolean()
    collective_discussion = fields.Boolean()
    published = fields.Boolean()
    opened_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    clocks = fields.List(fields.Nested(ClockOut))
    tasks = fields.List(fields.Nested(TaskOut))


# --- authentication --------------------------------------------------------------------------
@login_manager.request_loader
def _load_from_token(req: Any) -> SignedInUser | None:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not req.path.startswith("/api/"):
        return None
    s = get_session()
    token = s.scalars(
        select(ApiToken).where(ApiToken.token_sha256 == token_digest(header[7:].strip()))
    ).first()
    if token is None or token.revoked_at is not None:
        return None
    user = s.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    token.last_used_at = utcnow()
    s.commit()
    return SignedInUser(user, bureau_of(s, user.unit_code))


@bp.before_request
def _require_user() -> ResponseReturnValue | None:
    if request.endpoint == "api.openapi":
        return None
    if not current_user.is_authenticated:
        return jsonify({"error": "请先登录或提供有效的 API 令牌"}), 401
    return None


# --- helpers -----------------------------------------------------------------------------------
def _task_for_user(task_id: int) -> Task:
    task = get_session().get(Task, task_id)
    if task is None:
        abort(404)
    me = actor()
    if task.unit_code and me.bureau and task.unit_code != me.bureau:
        abort(403)
    if not (can_work(me, task) or me.username in (task.completed_by, task.assignee)):
        abort(403)
    return task


def _int_arg(name: str, default: int, upper: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= upper:
        raise InputError(f"参数 {name} 应为 1–{upper} 的整数")
    return int(raw)


# --- routes ------------------------------------------------------------------------------------
@bp.get("/tasks")
def list_tasks() -> ResponseReturnValue:
    due = request.args.get("due", "")
    if due not in ("", "overdue", "soon", "later"):
        raise InputError("参数 due 只能是 overdue、soon 或 later")
    f = inbox.InboxFilter(
        process=request.args.get("process", "")[:64],
        stage=request.args.get("stage", "")[:64],
        due=due,  # type: ignore[arg-type]
        party=request.args.get("party", "")[:100],
    )
    page = inbox.inbox(
        get_session(),
        actor(),
        f,
        page=_int_arg("page", 1, 100000),
        per_page=_int_arg("per_page", 20, MAX_PER_PAGE),
    )
    items = [r.task for r in page.rows]
    return jsonify(
        TaskPageOut().dump({"items": items, "total": page.total, "page": page.page, "pages": page.pages})
    )


@bp.get("/tasks/<id:task_id>")
def get_task(task_id: int) -> ResponseReturnValue:
    task = _task_for_user(task_id)
    form = tasks.form_for(get_session(), task)
    out = TaskOut().dump(task)
    out["form_fields"] = FieldOut(many=True).dump(
        [
            {
                "id": f.id,
                "label": f.label,
                "type": f.type,
                "widget": f.widget,
                "required": f.required,
                "readonly": f.readonly,
                "default": f.default,
                "options": [list(o) for o in f.options],
            }
            for f in form.fields
        ]
    )
    out["draft"] = task.draft
    out["form_data"] = task.form_data
    return jsonify(out)


@bp.post("/tasks/<id:task_id>/claim")
def claim_task(task_id: int) -> ResponseReturnValue:
    _task_for_user(task_id)
    with unit_of_work() as s:
        task = tasks.claim(s, task_id, actor=actor())
        out = TaskOut().dump(task)
    return jsonify(out)


@bp.post("/tasks/<id:task_id>/complete")
def complete_task(task_id: int) -> ResponseReturnValue:
    task = _task_for_user(task_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise InputError('请求体应为 JSON 对象 {"data": {字段: 值}}')
    form = tasks.form_for(get_session(), task)
    values = formschema.load(form, body["data"])
    with unit_of_work() as s:
        done = tasks.complete(s, task_id, actor=actor(), data=values)
        following = s.scalars(
            select(Task)
            .where(Task.instance_id == done.instance_id, Task.state == TaskState.OPEN)
            .order_by(Task.id)
        ).all()
        out = CompleteOut().dump({"completed": done, "next": following})
    return jsonify(out)


@bp.post("/processes/<key>/start")
def start_process(key: str) -> ResponseReturnValue:
    key = key[:128]
    me = actor()
    starts.get(get_session(), key, me)  # 404 unknown, 403 not startable by this person
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise InputError('请求体应为 JSON 对象 {"data": {字段: 值}}')
    values = formschema.load(starts.start_form(get_session(), key), body["data"])
    with unit_of_work() as s:
        instance = starts.start(s, key, values, actor=me)
        first = s.scalars(
            select(Task)
            .where(Task.instance_id == instance.id, Task.state == TaskState.OPEN)
            .order_by(Task.id)
        ).all()
        out = StartOut().dump({"instance_id": instance.id, "case_id": instance.case_id, "tasks": first})
    return jsonify(out), 201


@bp.get("/cases/<id:case_id>")
def get_case(case_id: int) -> ResponseReturnValue:
    case = visible_case(case_id)
    s = get_session()
    instance_ids = select(ProcessInstance.id).where(ProcessInstance.case_id == case.id)
    data = {
        **{c.key: getattr(case, c.key) for c in case.__table__.columns},
        "clocks": s.scalars(select(LegalClock).where(LegalClock.case_id == case.id)).all(),
        "tasks": s.scalars(select(Task).where(Task.instance_id.in_(instance_ids)).order_by(Task.id)).all(),
    }
    return jsonify(CaseOut().dump(data))


# --- OpenAPI -----------------------------------------------------------------------------------
def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": "ErrorOut"}}}


def _ok(schema: str) -> dict[str, Any]:
    return {"description": "成功", "content": {"application/json": {"schema": schema}}}


ID = {
    "name": "{name}",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
}
COMMON = {"401": _error("未登录或令牌无效"), "403": _error("无权访问"), "404": _error("不存在")}


def build_spec() -> dict[str, Any]:
    spec = APISpec(
        title="医保基金监管执法案件流程系统 API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Bearer 令牌：`ybjg token create 用户名`。"},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in (
        ("ErrorOut", ErrorOut),
        ("TaskOut", TaskOut),
        ("TaskPageOut", TaskPageOut),
        ("TaskDetailOut", TaskDetailOut),
        ("CompleteIn", CompleteIn),
        ("CompleteOut", CompleteOut),
        ("CaseOut", CaseOut),
        ("StartOut", StartOut),
    ):
        spec.components.schema(name, schema=schema)

    def id_param(name: str) -> dict[str, Any]:
        return {**ID, "name": name}

    def query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema}

    security = [{"bearer": []}]
    spec.path(
        path="/api/tasks",
        operations={
            "get": {
                "summary": "待办任务（本人及所在组未认领的任务）",
                "security": security,
                "parameters": [
                    query("process", {"type": "string", "maxLength": 64}),
                    query("stage", {"type": "string", "maxLength": 64}),
                    query("due", {"type": "string", "enum": ["overdue", "soon", "later"]}),
                    query("party", {"type": "string", "maxLength": 100}),
                    query("page", {"type": "integer", "minimum": 1, "maximum": 100000}),
                    query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}),
                ],
                "responses": {"200": _ok("TaskPageOut"), "400": _error("参数有误"), "401": COMMON["401"]},
            }
        },
    )
    spec.path(
        path="/api/tasks/{task_id}",
        operations={
            "get": {
                "summary": "任务及其表单",
                "security": security,
                "parameters": [id_param("task_id")],
                "responses": {"200": _ok("TaskDetailOut"), **COMMON},
            }
        },
    )
    spec.path(
        path="/api/tasks/{task_id}/claim",
        operations={
            "post": {
                "summary": "认领任务",
                "security": security,
                "parameters": [id_param("task_id")],
                "responses": {"200": _ok("TaskOut"), "409": _error("已被他人处理"), **COMMON},
            }
        },
    )
    spec.path(
        path="/api/tasks/{task_id}/complete",
        operations={
            "post": {
                "summary": "办理任务",
                "security": security,
                "parameters": [id_param("task_id")],
                "requestBody": {"required": True, "content": {"application/json": {"schema": "CompleteIn"}}},
                "responses": {
                    "200": _ok("CompleteOut"),
                    "400": _error("表单或请求有误（fields 逐字段说明）"),
                    "409": _error("该任务已被他人处理"),
                    "500": _error("流程脚本出错"),
                    **COMMON,
                },
            }
        },
    )
    spec.path(
        path="/api/processes/{key}/start",
        operations={
            "post": {
                "summary": "发起流程（如 penalty_case 线索登记），data 为开始表单的字段",
                "security": security,
                "parameters": [
                    {
                        "name": "key",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 128},
                    }
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": "CompleteIn"}}},
                "responses": {
                    "201": _ok("StartOut"),
                    "400": _error("表单或请求有误（fields 逐字段说明）"),
                    "500": _error("流程脚本出错"),
                    **COMMON,
                },
            }
        },
    )
    spec.path(
        path="/api/cases/{case_id}",
        operations={
            "get": {
                "summary": "案件：记录、法定期限、办理环节",
                "security": security,
                "parameters": [id_param("case_id")],
                "responses": {"200": _ok("CaseOut"), **COMMON},
            }
        },
    )
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(build_spec())
