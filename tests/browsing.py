"""What the browser tests share: a site (a browser context, the stack's URLs, logging in) and
screenshots kept under var/screenshots/."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from devstack.stack import Stack
from helpers import ROOT
from livestack import Live

SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "a browser test password"


class Site:
    def __init__(self, stack: Stack, services, context) -> None:
        self.stack, self.services, self.context = stack, services, context
        self.admin = f"http://127.0.0.1:{stack.ports.admin}"
        self.webchat = f"http://127.0.0.1:{stack.ports.webchat}"
        self.live = Live(stack)

    def page(self) -> Page:
        return self.context.new_page()

    def login(self, role: str = "admin") -> Page:
        page = self.page()
        page.goto(self.admin + "/login")
        page.fill("input[name=name]", f"{role}-1")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(self.admin + "/")
        return page


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
