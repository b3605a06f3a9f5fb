"""The pages in a real browser: Debian's Chromium (headless, JavaScript off) driven by
chromedriver through Selenium, against the example app served by a real WSGI server on
127.0.0.1. Nothing is mocked.

- A developer (debug mode) opens the failing page on an old database, reads the drift table,
  clicks Heal now, lands on the working page, opens the health page (SQLite, PostgreSQL,
  MariaDB).
- An operator in production with the health token (sent by the browser on every request, as
  a header extension or a proxy does) does the same, and sees no SQL or address.
- A browser without debug or token gets the JSON; a form on another origin cannot heal, even
  with the app's CSRF token; both pages fit a phone's width.

No browser installed: the tests skip with the reason; with ``browser`` in
``SCHEMAGUARD_TEST_REQUIRE`` (CI) they fail instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import _reliability as rel
import flask_apps as fa
import pytest
from example_apps import FAILING_PAGE, TOPIC, MakeApp, in_sync, make_example, require_browser
from flask import Flask

from example_app import browser
from flask_schemaguard.dialects import display_url

__all__ = ["make_example"]  # the fixture, imported for the tests below

TOKEN = "browser-token-s3cret"
HEALTH = "/healthz/schema"
BROWSER_DATABASES = pytest.mark.parametrize("db_kind", ["sqlite", "postgresql", "mysql"])


@pytest.fixture
def chrome() -> Iterator[Any]:
    require_browser()
    with browser.chrome() as driver:
        yield driver


def by(kind: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def wait_for_title(driver: Any, text: str) -> None:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(expected_conditions.title_contains(text))


def drift_table(driver: Any) -> list[list[str]]:
    rows = driver.find_elements(by("CSS_SELECTOR"), "table.drift tbody tr")
    return [[c.text for c in r.find_elements(by("TAG_NAME"), "td")][:5] for r in rows]


def plan_rows(driver: Any) -> list[list[str]]:
    rows = driver.find_elements(by("CSS_SELECTOR"), "table.plan tbody tr")
    return [[c.text for c in r.find_elements(by("TAG_NAME"), "td")] for r in rows]


def heal_button(driver: Any) -> Any:
    return driver.find_element(by("XPATH"), "//button[normalize-space()='Heal now']")


def no_policy_violations(driver: Any) -> None:
    """The page broke none of its own rules (CSP) and loaded its stylesheet."""
    messages = [e["message"] for e in driver.get_log("browser")]
    assert not [m for m in messages if "Content Security Policy" in m], messages
    main = driver.find_element(by("TAG_NAME"), "main")
    assert main.value_of_css_property("max-width") == "1152px", "the stylesheet did not apply"


SEED_ROWS = [
    ["missing_table", "step_execution_logs", "–", "error", "yes"],
    ["missing_column", "crucible_runs", "chat_session_id", "error", "yes"],
    ["missing_index", "crucible_runs", "ix_crucible_runs_chat_session_id", "warning", "yes"],
]


def _url_of(app: Flask) -> str:
    with app.app_context():
        return display_url(app.extensions["sqlalchemy"].engine)


@BROWSER_DATABASES
def test_developer_heals_from_the_page(make_example: MakeApp, chrome: Any, db_url: str) -> None:
    app = make_example(DEBUG=True)
    with app.app_context():
        plan = app.extensions["schemaguard"].guard.plan()
    with browser.serve(app) as base:
        chrome.get(base + FAILING_PAGE)
        wait_for_title(chrome, "Database schema out of date")
        assert chrome.find_element(by("TAG_NAME"), "h1").text == "Database schema out of date"
        assert drift_table(chrome) == SEED_ROWS
        url = chrome.find_element(by("CSS_SELECTOR"), "code.url").text
        assert url == _url_of(app)  # masked; SQLite's absolute path
        rows = plan_rows(chrome)
        assert [r[1] for r in rows] == [op.describe() for op in plan]
        assert all(r[2] for r in rows)  # each operation's lock
        no_policy_violations(chrome)

        heal_button(chrome).click()
        wait_for_title(chrome, TOPIC)
        assert chrome.current_url == base + FAILING_PAGE
        assert chrome.find_element(by("TAG_NAME"), "h1").text == TOPIC
        assert in_sync(app)

        chrome.get(base + HEALTH)
        wait_for_title(chrome, "Schema health: pass")
        assert chrome.find_element(by("CSS_SELECTOR"), "h1 .badge").text == "pass"
        history = chrome.find_elements(by("CSS_SELECTOR"), "table.history tbody tr")
        assert len(history) == len(rel.audit_rows(db_url)) == len(plan)
        assert "create_table" in chrome.find_element(by("TAG_NAME"), "body").text
        assert (
            f"{len(plan)} applied, 0 failed"
            in chrome.find_element(
                by("XPATH"), "//h2[@id='last-heal-heading']/following-sibling::p"
            ).text
        )
        no_policy_violations(chrome)


@pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"])
def test_operator_heals_with_the_token(make_example: MakeApp, db_url: str) -> None:
    require_browser()
    app = make_example(SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
    with (
        browser.serve(app) as base,
        browser.chrome(headers={"Authorization": f"Bearer {TOKEN}"}) as driver,
    ):
        driver.get(base + FAILING_PAGE)
        wait_for_title(driver, "Database schema out of date")
        assert drift_table(driver) == SEED_ROWS
        text = driver.find_element(by("TAG_NAME"), "body").text
        assert "CREATE" not in text and "SELECT" not in text and "code.url" not in text
        assert not driver.find_elements(by("CSS_SELECTOR"), "code.url")
        heal_button(driver).click()
        wait_for_title(driver, TOPIC)
        assert in_sync(app)
        driver.get(base + HEALTH)
        wait_for_title(driver, "Schema health: pass")
        assert driver.find_elements(by("CSS_SELECTOR"), "table.history tbody tr")


@fa.SQLITE_ONLY
def test_production_browser_gets_the_json(make_example: MakeApp, chrome: Any) -> None:
    app = make_example(SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
    with browser.serve(app) as base:
        for path, key in ((FAILING_PAGE, "code"), (HEALTH, "status")):
            chrome.get(base + path)
            body = json.loads(chrome.find_element(by("TAG_NAME"), "pre").text)
            assert key in body and "details" not in body
            assert not chrome.find_elements(by("TAG_NAME"), "button")
    assert not in_sync(app)


ATTACKER_PAGE = """<!doctype html><html lang="en"><head><title>Win a prize</title></head><body>
<form method="post" action="{action}">
<input type="hidden" name="schemaguard_csrf" value="{token}">
<input type="hidden" name="next" value="/sessions/1">
<button type="submit">Claim</button></form></body></html>"""


@fa.SQLITE_ONLY
def test_a_form_on_another_origin_cannot_heal(
    make_example: MakeApp, chrome: Any, db_url: str
) -> None:
    app = make_example(DEBUG=True)
    with browser.serve(app) as base:
        chrome.get(base + FAILING_PAGE)
        token = chrome.find_element(by("NAME"), "schemaguard_csrf").get_attribute("value")
        attacker = Flask("attacker")
        page = ATTACKER_PAGE.format(action=base + "/_schemaguard/heal", token=token)
        attacker.add_url_rule("/", "index", lambda: page)
        with browser.serve(attacker) as evil:
            assert evil != base
            chrome.get(evil + "/")
            chrome.find_element(by("TAG_NAME"), "button").click()
            wait_for_title(chrome, "Heal refused")
            text = chrome.find_element(by("TAG_NAME"), "body").text
            assert "another origin" in text
    assert not in_sync(app) and rel.audit_rows(db_url) == []


#: Overflow of the page and of each scrolling region: [[scrollWidth, clientWidth], ...].
OVERFLOW = (
    "[[document.documentElement.scrollWidth, window.innerWidth]].concat("
    "Array.from(document.querySelectorAll('.scroll')).map(e => [e.scrollWidth, e.clientWidth]))"
)


@fa.SQLITE_ONLY
def test_pages_fit_a_phone_and_a_tablet(make_example: MakeApp) -> None:
    require_browser()
    app = make_example(DEBUG=True)
    with browser.serve(app) as base, browser.chrome() as driver:
        for width, mobile in ((320, True), (390, True), (700, False), (961, False), (1300, False)):
            browser.emulate(driver, width, 844, mobile=mobile)
            for path, title in ((FAILING_PAGE, "Database schema"), (HEALTH, "Schema health")):
                driver.get(base + path)
                wait_for_title(driver, title)
                sizes = browser.evaluate(driver, OVERFLOW)
                assert sizes[0][1] == width
                assert all(scroll <= client for scroll, client in sizes), (width, path, sizes)
                button = driver.find_elements(by("TAG_NAME"), "button")
                if button:
                    assert button[0].size["height"] >= 40  # a finger-sized target
