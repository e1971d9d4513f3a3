"""The one place that knows status codes and wording: domain errors and HTTP errors become a
Chinese page (or JSON under /api/), never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from engine.documents import DocumentFileError
from engine.errors import (
    CalendarError,
    ConcurrentUpdateError,
    DefinitionInvalidError,
    DomainError,
    FormValidationError,
    InputError,
    NotFoundError,
    NotPermittedError,
    RateLimitedError,
    SandboxError,
    TaskAlreadyCompletedError,
    WorkflowScriptError,
)

log = logging.getLogger(__name__)

STATUS: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ConcurrentUpdateError: 409,
    TaskAlreadyCompletedError: 409,
    NotPermittedError: 403,
    FormValidationError: 400,
    DefinitionInvalidError: 400,
    InputError: 400,
    CalendarError: 400,
    SandboxError: 500,
    WorkflowScriptError: 500,
    RateLimitedError: 429,
    DocumentFileError: 500,
}
# Server-side faults whose detail is still plain Chinese a user may read (which document is broken).
SAFE_DETAIL: tuple[type[DomainError], ...] = (DocumentFileError,)

HTTP_MESSAGES = {
    400: "请求有误",
    401: "请先登录",
    403: "您没有权限访问该页面或数据",
    404: "页面或数据不存在",
    405: "不支持该操作",
    413: "上传的文件过大",
    429: "操作过于频繁，请稍后再试",
    500: "系统出错，已记录，请联系管理员",
}


def status_of(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(status: int, message: str, **extra: object) -> ResponseReturnValue:
    if _wants_json():
        return jsonify({"error": message, **extra}), status
    return render_template("error.html", status=status, message=message), status


def handle_domain_error(exc: DomainError) -> ResponseReturnValue:
    status = status_of(exc)
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.detail)
    extra: dict[str, object] = {}
    if isinstance(exc, FormValidationError):
        extra["fields"] = exc.errors
    message = exc.message if status >= 500 and not isinstance(exc, SAFE_DETAIL) else exc.detail
    return _render(status, message, **extra)


def handle_http_error(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    message = HTTP_MESSAGES.get(status, exc.name)
    if status == 400 and exc.description == "csrf":
        message = "页面已过期或表单来源无效（CSRF 校验失败），请刷新后重试"
    elif status == 400 and exc.description == "nul":
        message = "输入中含有无效的控制字符（NUL），请删除后重试"
    return _render(status, message)


def handle_unexpected(exc: Exception) -> ResponseReturnValue:
    log.exception("unexpected error")
    return _render(500, HTTP_MESSAGES[500])


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
