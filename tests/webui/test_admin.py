"""User administration: admin only, every change audited, clear errors."""

from __future__ import annotations

from sqlalchemy import select

from engine.models import AuditEvent, MemberAgency, User


def test_only_admins(as_user) -> None:  # type: ignore[no-untyped-def]
    for user in ("officer1", "chief", "supervisor"):
        browser = as_user(user)
        assert browser.get("/admin/users").status_code == 403
        assert browser.post("/admin/users", {"username": "x"}).status_code == 403


def test_create_edit_reset(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    bad = admin.post(
        "/admin/users", {"username": "新人", "full_name": "", "unit_code": "yubei", "password": "short"}
    )
    html = bad.get_data(as_text=True)
    assert (
        bad.status_code == 400 and "请填写姓名" in html and "至少 8 位" in html and "至少选择一个角色" in html
    )
    ok = admin.post(
        "/admin/users",
        {
            "username": "officer9",
            "full_name": "新办案员",
            "unit_code": "yubei-jhk",
            "password": "longenough",
            "roles": "officer",
        },
    )
    assert ok.status_code == 302
    with seeded() as s:
        user = s.scalars(select(User).where(User.username == "officer9")).one()
        assert user.role_codes == {"officer"}
    assert (
        admin.post(
            f"/admin/users/{user.id}",
            {
                "full_name": "新办案员",
                "unit_code": "yubei-jhk",
                "roles": ["officer", "supervisor"],
                "active": "1",
            },
        ).status_code
        == 302
    )
    assert admin.post(f"/admin/users/{user.id}/password", {"password": "anotherpass"}).status_code == 302
    with seeded() as s:
        assert s.get(User, user.id).role_codes == {"officer", "supervisor"}
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))][-3:]
        assert actions == ["user.create", "user.update", "user.reset_password"]
    from tests.webui.conftest import Browser

    assert Browser(admin.client.application.test_client()).login("officer9", "anotherpass")


def test_user_list_names_units(as_user) -> None:  # type: ignore[no-untyped-def]
    html = as_user("admin").get("/admin/users").get_data(as_text=True)
    row = html[html.index("<td>officer1</td>") :].split("</tr>", 1)[0]
    assert "基金监管科（稽核科）" in row and "yubei-jhk" not in row


# --- 联席成员单位 -----------------------------------------------------------------------------------
AGENCY = {
    "code": "ybj_city",
    "name": "市医疗保障局",
    "remit": "市级定点医药机构",
    "institution_types": ["pharmacy"],
    "channel": "dropfolder",
    "destination": "/srv/infocopy",
}


def test_agencies_only_for_admins(as_user) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    assert "联席成员单位" not in officer.get("/").get_data(as_text=True)
    for url in ("/admin/agencies", "/admin/agencies/wsjkw"):
        assert officer.get(url).status_code == 403
    for url in ("/admin/agencies", "/admin/agencies/wsjkw", "/admin/agencies/wsjkw/active"):
        assert officer.post(url, {**AGENCY, "active": "0"}).status_code == 403


def test_agency_list_shows_chinese_labels(as_user) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    assert 'href="/admin/agencies"' in admin.get("/admin/users").get_data(as_text=True)  # in the nav
    html = admin.get("/admin/agencies").get_data(as_text=True)
    row = html[html.index("<td>wsjkw</td>") :].split("</tr>", 1)[0]
    assert "区卫生健康委员会" in row and "公立医院、民营医院、基层医疗卫生机构、诊所、门诊部" in row
    assert "电子邮件" in row and "xxcg@wsjkw.example.gov.cn" in row and "启用" in row
    assert "public_hospital" not in row


def test_forged_csrf_changes_nothing(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    assert admin.post("/admin/agencies", {**AGENCY, "csrf_token": "forged"}).status_code == 400
    assert admin.post("/admin/agencies/wsjkw/active", {"active": "0"}, csrf=False).status_code == 400
    with seeded() as s:
        assert s.get(MemberAgency, "ybj_city") is None and s.get(MemberAgency, "wsjkw").active


def test_create_agency_errors_in_chinese_keep_input(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    bad = admin.post(
        "/admin/agencies", {**AGENCY, "code": "YBJ-City", "remit": "", "destination": "srv/infocopy"}
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "单位代码应为 1–32 位小写英文字母、数字或下划线" in html
    assert "请填写职责范围" in html and "共享目录应为服务器上的绝对路径" in html
    assert 'value="YBJ-City"' in html and 'value="市医疗保障局"' in html and 'value="srv/infocopy"' in html
    assert 'value="pharmacy" checked' in html and 'value="dropfolder" selected' in html
    assert admin.post("/admin/agencies", AGENCY).status_code == 302
    with seeded() as s:
        agency = s.get(MemberAgency, "ybj_city")
        assert (agency.channel, agency.destination, agency.institution_types) == (
            "dropfolder",
            "/srv/infocopy",
            ["pharmacy"],
        )
        assert _last_action(s) == "infocopy.agency.create"


def test_edit_agency_keeps_code_and_toggles(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    form = admin.get("/admin/agencies/scjgj").get_data(as_text=True)
    assert "区市场监督管理局" in form and 'name="code"' not in form  # the code is not editable
    bad = admin.post("/admin/agencies/scjgj", {**AGENCY, "channel": "email", "destination": "无效地址"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "邮箱地址「无效地址」格式不正确" in html and 'value="无效地址"' in html
    ok = admin.post("/admin/agencies/scjgj", {**AGENCY, "code": "renamed", "channel": "email",
                                               "destination": "xxcg@scj.example.gov.cn"})  # fmt: skip
    assert ok.status_code == 302
    assert admin.post("/admin/agencies/scjgj/active", {"active": "0"}).status_code == 302
    assert admin.get("/admin/agencies/nope").status_code == 404
    with seeded() as s:
        agency = s.get(MemberAgency, "scjgj")
        assert (agency.name, agency.destination, agency.active) == (
            "市医疗保障局",
            "xxcg@scj.example.gov.cn",
            False,
        )
        assert s.get(MemberAgency, "renamed") is None
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))][-2:]
        assert actions == ["infocopy.agency.update", "infocopy.agency.disable"]
    listed = admin.get("/admin/agencies").get_data(as_text=True)
    row = listed[listed.index("<td>scjgj</td>") :].split("</tr>", 1)[0]
    assert "<td>停用</td>" in row and ">启用</button>" in row


def _last_action(session) -> str:  # type: ignore[no-untyped-def]
    return session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq.desc())).first()
