"""The example app on an old database, for the page tests (test client and real browser).

``make_example`` builds ``example_app.create_app`` on the test's own database, made as it was
before ``StepExecutionLog`` and ``Run.chat_session_id`` (``example_app.old_schema``), in check
mode unless told otherwise. Engines are disposed and degraded mappers restored afterwards
(the example's models are module-level: a degraded column would leak into the next test).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import REQUIRED
from flask import Flask

from example_app import browser, create_app
from example_app.models import db
from example_app.old_schema import create_old_database
from flask_schemaguard import orm_refresh

MakeApp = Callable[..., Flask]

#: What Chromium sends when a person opens a page.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FAILING_PAGE = "/sessions/1"
TOPIC = "Should we adopt flask-schemaguard?"


@pytest.fixture
def make_example(db_url: str) -> Iterator[MakeApp]:
    create_old_database(db_url)
    apps: list[Flask] = []

    def make(**config: Any) -> Flask:
        settings = {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "TESTING": True,
            "SCHEMAGUARD_MODE": "check",
            **config,
        }
        app = create_app(settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
    orm_refresh.reset()


def require_browser() -> None:
    """Skip a browser test when no browser can run here; fail when CI requires one."""
    reason = browser.missing()
    if reason is None:
        return
    if "browser" in REQUIRED:
        pytest.fail(f"{reason} (required by SCHEMAGUARD_TEST_REQUIRE)")
    pytest.skip(reason)


def csrf_of(html: str) -> str:
    found = re.search(r'name="schemaguard_csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


def in_sync(app: Flask) -> bool:
    return bool(app.extensions["schemaguard"].guard.check(app=app).in_sync)
