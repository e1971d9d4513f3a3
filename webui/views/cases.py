"""案卷: one page per case — record, legal clocks, timeline of every step, audit trail."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import login_required
from sqlalchemy import select

from engine import audit
from engine.models import Case, LegalClock, ProcessInstance, Task
from webui.auth import actor
from webui.db import get_session

bp = Blueprint("cases", __name__, url_prefix="/cases")


def visible_case(case_id: int) -> Case:
    """The case, if it belongs to the user's bureau (403 otherwise, never the data)."""
    case = get_session().get(Case, case_id)
    if case is None:
        abort(404)
    if actor().bureau and case.unit_code != actor().bureau:
        abort(403)
    return case


@bp.get("/<id:case_id>")
@login_required
def show(case_id: int) -> ResponseReturnValue:
    case = visible_case(case_id)
    s = get_session()
    instances = list(s.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.id)))
    ids = [i.id for i in instances]
    steps = list(s.scalars(select(Task).where(Task.instance_id.in_(ids)).order_by(Task.created_at, Task.id)))
    clocks = list(
        s.scalars(select(LegalClock).where(LegalClock.case_id == case.id).order_by(LegalClock.started_at))
    )
    events = audit.list_events(s, case_id=case.id, limit=200)
    return render_template(
        "case.html", case=case, instances=instances, steps=steps, clocks=clocks, events=events
    )
