"""A client of the admin site for the tests: logged in as one user, carrying the CSRF token as the
pages do."""
from __future__ import annotations

import re

from admin_site.settings import Settings

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-that-is-long-enough-0123456789"


class Client:
    """Flask's test client, logged in as one user; `csrf` is the token its pages carry."""

    def __init__(self, app, name: str | None = None) -> None:
        self.app, self.http = app, app.test_client()
        self.csrf = ""
        if name:
            self.login(name)

    def token(self) -> str:
        page = self.http.get("/login").get_data(as_text=True)
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        return self.csrf

    def login(self, name: str, password: str = PASSWORD):
        answer = self.http.post("/login", data={"name": name, "password": password, "csrf_token": self.token()})
        self.token()  # a new session: a new token
        return answer

    def get(self, url: str, **kw):
        return self.http.get(url, **kw)

    def post(self, url: str, data: dict | None = None, **kw):
        return self.http.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kw)

    def send(self, method: str, url: str, json=None):
        return self.http.open(url, method=method, json=json, headers={"X-CSRFToken": self.csrf})


def make_settings(**overrides) -> Settings:
    return Settings(secret_key=SECRET, **overrides)
