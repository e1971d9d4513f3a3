"""User administration: admin only, every change audited, clear errors."""

from __future__ import annotations

from sqlalchemy import select

from engine.models import AuditEvent, User


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
