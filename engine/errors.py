"""Typed errors: something a user can understand and act on, never a bug. The UI and the CLI
translate them; the `message` is the Chinese text a user reads."""

from __future__ import annotations


class DomainError(Exception):
    """Base class; `message` is safe to show to a user."""

    message = "操作失败"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.message)
        self.detail = detail or self.message


class NotFoundError(DomainError):
    message = "对象不存在"


class ConcurrentUpdateError(DomainError):
    message = "该任务已被他人处理，请刷新"


class TaskAlreadyCompletedError(ConcurrentUpdateError):
    message = "该任务已被他人处理，请刷新"


class NotPermittedError(DomainError):
    message = "您无权办理该任务"


class FormValidationError(DomainError):
    """Submitted form values are wrong; `errors` maps field id to a Chinese message."""

    message = "表单填写有误"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("；".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class DefinitionInvalidError(DomainError):
    """A BPMN/DMN file failed validation; `problems` lists (file, element id, message)."""

    message = "流程定义校验未通过"

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        super().__init__("\n".join(f"{f}: {e}: {m}" for f, e, m in problems))
        self.problems = problems


class SandboxError(DomainError):
    """An expression or script was refused or failed inside the sandbox."""

    message = "流程表达式被拒绝或执行出错"


class WorkflowScriptError(DomainError):
    """The workflow failed while running a script, condition or timer."""

    message = "流程脚本出错，已通知管理员"


class CalendarError(DomainError):
    message = "工作日历参数有误"


class InputError(DomainError):
    """Bad command-line or API input that is not a form field."""

    message = "输入有误"


class RateLimitedError(DomainError):
    """Too many submissions from one address or from everyone in the current window."""

    message = "提交过于频繁，请稍后再试"
