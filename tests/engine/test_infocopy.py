"""The member agencies table behind 信息抄告, as an administrator keeps it: every field checked with
a Chinese message, the code fixed once created, no deletion (only 停用), every change audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import infocopy, referrals
from engine.db import unit_of_work
from engine.errors import FormValidationError, NotFoundError
from engine.models import AuditEvent, Case, MemberAgency
from engine.users import Actor
from integrations.senders import SenderSettings, build_senders

ADMIN = Actor("admin", frozenset({"admin"}), None, "10.0.0.7")
HOOK = "https://ylbz.example.gov.cn/ybjg/infocopy"
VALID: dict[str, Any] = {
    "code": "ybj_city",
    "name": "市医疗保障局",
    "remit": "市级定点医药机构",
    "institution_types": ["pharmacy", "public_hospital"],
    "channel": "email",
    "destination": "xxcg@ybj.example.gov.cn",
}


def _events(session: Session, prefix: str = "infocopy.agency.") -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.seq)
        )
    )


@pytest.fixture
def defaults(sf: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(sf) as s:
        infocopy.seed_agencies(s)
    return sf


def test_channels_are_those_the_outbox_can_send(sf: sessionmaker[Session]) -> None:
    senders = build_senders(SenderSettings(smtp_host="127.0.0.1"), sf)
    assert set(infocopy.CHANNELS) == set(senders)


def test_create_stores_cleaned_values_and_audits(defaults: sessionmaker[Session]) -> None:
    with unit_of_work(defaults) as s:
        infocopy.create_agency(s, actor=ADMIN, **{**VALID, "name": "  市医疗保障局 "})
    with defaults() as s:
        agency = infocopy.get_agency(s, "ybj_city")
        # institution types are kept in the order of INSTITUTION_TYPES, whatever order the form sent
        assert (agency.name, agency.institution_types, agency.active) == (
            "市医疗保障局",
            ["public_hospital", "pharmacy"],
            True,
        )
        assert [a.code for a in infocopy.list_agencies(s)] == ["mzj", "scjgj", "wsjkw", "ybj_city"]
        [event] = _events(s)
        assert (event.action, event.object_type, event.object_id) == (
            "infocopy.agency.create",
            "member_agency",
            "ybj_city",
        )
        assert (event.actor, event.client_addr) == ("admin", "10.0.0.7")
        assert event.detail["destination"] == "xxcg@ybj.example.gov.cn" and event.after_digest


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"code": ""}, "code", "1–32 位小写英文字母"),
        ({"code": "WSJKW2"}, "code", "1–32 位小写英文字母"),
        ({"code": "ybj-city"}, "code", "1–32 位小写英文字母"),
        ({"code": "x" * 33}, "code", "1–32 位小写英文字母"),
        ({"code": "wsjkw"}, "code", "单位代码「wsjkw」已被使用"),
        ({"name": "  "}, "name", "请填写成员单位名称"),
        ({"name": "名" * 101}, "name", "最多 100 字"),
        ({"remit": ""}, "remit", "请填写职责范围"),
        ({"remit": "范" * 256}, "remit", "最多 255 字"),
        ({"institution_types": ["pharmacy", "hospital"]}, "institution_types", "机构类型无效：hospital"),
        ({"channel": "manual"}, "channel", "请选择抄告渠道"),
        ({"channel": ""}, "channel", "请选择抄告渠道"),
        ({"destination": ""}, "destination", "请填写抄告地址"),
        ({"destination": "a@" + "b" * 260 + ".cn"}, "destination", "最多 255 个字符"),
        ({"destination": "xxcg.example.gov.cn"}, "destination", "格式不正确"),
        ({"channel": "webhook", "destination": "http://ylbz.example.gov.cn/h"}, "destination", "https://"),
        ({"channel": "webhook", "destination": "https:///h"}, "destination", "https://"),
        ({"channel": "webhook", "destination": "https://a b.cn/h"}, "destination", "https://"),
        ({"channel": "webhook", "destination": HOOK}, "destination", "尚未配置签名密钥"),
        ({"channel": "dropfolder", "destination": "srv/infocopy"}, "destination", "绝对路径"),
        ({"channel": "dropfolder", "destination": "/srv/../etc"}, "destination", "绝对路径"),
    ],
)
def test_create_refuses_each_bad_field(
    defaults: sessionmaker[Session], changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(FormValidationError) as refused, unit_of_work(defaults) as s:
        infocopy.create_agency(s, actor=ADMIN, **{**VALID, **changes})
    assert list(refused.value.errors) == [field]
    assert message in refused.value.errors[field]
    with defaults() as s:
        assert s.scalar(select(func.count()).select_from(MemberAgency)) == 3
        assert _events(s) == []


def test_all_bad_fields_are_named_at_once(defaults: sessionmaker[Session]) -> None:
    with pytest.raises(FormValidationError) as refused, unit_of_work(defaults) as s:
        infocopy.create_agency(
            s, actor=ADMIN, code="", name="", remit="", institution_types=["x"], channel="sms", destination=""
        )
    assert set(refused.value.errors) == {"code", "name", "remit", "institution_types", "channel"}


def test_each_channel_accepts_its_destination(defaults: sessionmaker[Session]) -> None:
    with unit_of_work(defaults) as s:
        referrals.save_destination(
            s, actor="admin", code="ylbz", name="市医保局", channel="webhook", address=HOOK,
            secret="s" * 24,
        )  # fmt: skip
    with unit_of_work(defaults) as s:
        infocopy.create_agency(s, actor=ADMIN, **{**VALID, "channel": "webhook", "destination": HOOK})
        infocopy.create_agency(
            s, actor=ADMIN, **{**VALID, "code": "drop", "channel": "dropfolder", "destination": "/srv/抄告"}
        )
    with defaults() as s:
        assert [
            (a.channel, a.destination) for a in infocopy.list_agencies(s) if a.code in ("drop", "ybj_city")
        ] == [
            ("dropfolder", "/srv/抄告"),
            ("webhook", HOOK),
        ]


def test_update_changes_all_but_the_code_and_audits_what_changed(defaults: sessionmaker[Session]) -> None:
    fields = {k: v for k, v in VALID.items() if k != "code"}
    with unit_of_work(defaults) as s:
        infocopy.update_agency(s, "wsjkw", actor=ADMIN, **fields)
    with unit_of_work(defaults) as s:
        infocopy.update_agency(s, "wsjkw", actor=ADMIN, **fields)  # the same values again: no event
    with defaults() as s:
        agency = infocopy.get_agency(s, "wsjkw")
        assert infocopy.agency_values(agency) == {
            **fields,
            "institution_types": ["public_hospital", "pharmacy"],
        }
        [event] = _events(s)
        assert (event.action, event.object_id) == ("infocopy.agency.update", "wsjkw")
        assert event.detail["previous"]["destination"] == "xxcg@wsjkw.example.gov.cn"
        assert event.detail["previous"]["name"] == "区卫生健康委员会"
        assert event.before_digest != event.after_digest


def test_update_refuses_bad_input_and_unknown_code(defaults: sessionmaker[Session]) -> None:
    fields = {k: v for k, v in VALID.items() if k != "code"}
    with pytest.raises(FormValidationError) as refused, unit_of_work(defaults) as s:
        infocopy.update_agency(s, "wsjkw", actor=ADMIN, **{**fields, "destination": "不是邮箱"})
    assert list(refused.value.errors) == ["destination"]
    with pytest.raises(NotFoundError), unit_of_work(defaults) as s:
        infocopy.update_agency(s, "nope", actor=ADMIN, **fields)
    with defaults() as s:
        assert infocopy.get_agency(s, "wsjkw").destination == "xxcg@wsjkw.example.gov.cn"
        assert _events(s) == []


def test_disabled_agency_is_kept_but_no_longer_offered(defaults: sessionmaker[Session]) -> None:
    with unit_of_work(defaults) as s:
        infocopy.set_agency_active(s, "scjgj", False, actor=ADMIN)
        infocopy.set_agency_active(s, "scjgj", False, actor=ADMIN)  # already off: no second event
    with defaults() as s:
        assert [a.code for a in infocopy.agencies(s)] == ["mzj", "wsjkw"]
        assert [a.code for a in infocopy.list_agencies(s)] == ["mzj", "scjgj", "wsjkw"]
        assert infocopy.suggested(s, Case(institution_type="pharmacy")) == []
    with unit_of_work(defaults) as s:
        infocopy.set_agency_active(s, "scjgj", True, actor=ADMIN)
    with defaults() as s:
        assert infocopy.suggested(s, Case(institution_type="pharmacy")) == ["scjgj"]
        assert [(e.action, e.object_id) for e in _events(s)] == [
            ("infocopy.agency.disable", "scjgj"),
            ("infocopy.agency.enable", "scjgj"),
        ]
    with pytest.raises(NotFoundError), unit_of_work(defaults) as s:
        infocopy.set_agency_active(s, "nope", True, actor=ADMIN)
