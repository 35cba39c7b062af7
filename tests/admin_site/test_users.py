"""Users (admins only) and the audit log of their changes."""
from __future__ import annotations


def test_an_admin_creates_a_user_who_can_then_log_in_and_it_is_audited(client_as):
    admin = client_as("admin")
    answer = admin.post("/users/", {"name": "carol", "role": "editor", "password": "a long password",
                                    "again": "a long password"})
    assert answer.status_code == 302
    assert "carol" in admin.get("/users/").get_data(as_text=True)
    assert client_as().login("carol", "a long password").status_code == 302
    audit = admin.get("/audit/").get_data(as_text=True)
    assert "user.create" in audit and "carol" in audit and "role: editor" in audit


def test_bad_input_comes_back_with_the_form_filled_and_the_problem_named(client_as):
    admin = client_as("admin")
    for data, problem in (({"name": "Bad Name!", "role": "viewer", "password": "long enough pw",
                            "again": "long enough pw"}, "a user name is"),
                          ({"name": "dave", "role": "viewer", "password": "short", "again": "short"},
                           "at least 10 characters"),
                          ({"name": "dave", "role": "viewer", "password": "long enough pw", "again": "other pw!!"},
                           "the two passwords differ"),
                          ({"name": "viewer", "role": "viewer", "password": "long enough pw",
                            "again": "long enough pw"}, "already a user")):
        answer = admin.post("/users/", data)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 400 and problem in page.replace("&#39;", "'")
        assert f'value="{data["name"]}"' in page or data["name"] == "Bad Name!"


def test_only_admins_manage_users_even_with_a_hand_made_request(client_as):
    for role in ("viewer", "agent", "editor"):
        client = client_as(role)
        assert client.get("/users/").status_code == 403
        assert client.post("/users/", {"name": "mallory", "role": "admin", "password": "long enough pw",
                                       "again": "long enough pw"}).status_code == 403
        assert client.post("/users/viewer", {"change": "role", "role": "admin"}).status_code == 403
    assert "mallory" not in client_as("admin").get("/users/").get_data(as_text=True)


def test_disabling_a_user_ends_their_session_and_a_role_change_ends_it_too(client_as):
    admin, editor = client_as("admin"), client_as("editor")
    assert editor.get("/").status_code == 200
    assert admin.post("/users/editor", {"change": "role", "role": "viewer"}).status_code == 302
    assert editor.get("/").status_code == 302  # logged out: the role changed
    editor.login("editor")
    assert editor.get("/").status_code == 200
    assert admin.post("/users/editor", {"change": "disable"}).status_code == 302
    assert editor.get("/").status_code == 302 and editor.login("editor").status_code == 401


def test_an_admin_cannot_lock_themself_out(client_as):
    admin = client_as("admin")
    assert admin.post("/users/admin", {"change": "disable"}).status_code == 400
    assert admin.get("/").status_code == 200


def test_names_typed_by_users_are_escaped_in_the_audit_log(client_as, services):
    services.audit.record("admin", "intent.save", "<script>alert(1)</script>", {"note": "<b>x</b>"})
    page = client_as("viewer").get("/audit/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
