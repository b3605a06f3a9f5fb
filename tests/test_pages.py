"""Pages for people, through the test client (the real-browser tests are test_pages_browser.py).

- Content negotiation: the problem JSON and the health JSON are byte for byte what they were
  for every machine client (no ``Accept``, ``*/*``, JSON types, ties), and for a browser
  outside debug mode without the token.
- The drift page (debug, token) and the health page: what each shows, and what the token
  page never shows (SQL, database address, database messages).
- ``POST /_schemaguard/heal``: 404 without debug or token; 403 for a missing or wrong CSRF
  token, another ``Origin`` or ``Referer``, or neither; a valid one heals and goes back.
- Leaks: passwords (PostgreSQL, MySQL) and SQL parameters never reach a page.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _reliability as rel
import flask_apps as fa
import pytest
import sqlalchemy as sa
from example_apps import BROWSER_ACCEPT, FAILING_PAGE, MakeApp, csrf_of, in_sync, make_example
from flask import Flask
from markupsafe import escape

from flask_schemaguard import Drift, DriftKind, DriftReport, SchemaGuard, Severity, pages
from flask_schemaguard.csrf import csrf_token
from flask_schemaguard.dialects import display_url
from flask_schemaguard.engine.planner import ALL_OPERATIONS
from flask_schemaguard.pages import LOCKS, breakable, commands

__all__ = ["make_example"]  # the fixture, imported for the tests below

HEAL = "/_schemaguard/heal"
HEALTH = "/healthz/schema"
ORIGIN = "http://localhost"
TOKEN = "page-token-" + uuid.uuid4().hex[:8]
PASSWORD = "Pa55-page-" + uuid.uuid4().hex[:8]
PARAMETER = "param-value-" + uuid.uuid4().hex[:6]
MACHINE_ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/problem+json",
    "application/health+json",
    "text/html, application/json",  # a tie: JSON wins
    "application/json, text/html;q=0.9",
    "text/html;q=0.1, */*;q=0.5",
]


def html(accept: str = BROWSER_ACCEPT, **headers: str) -> dict[str, str]:
    return {"Accept": accept, **headers}


def same_response(a: Any, b: Any) -> None:
    """Same status, body and headers (but the date)."""
    assert (a.status_code, a.get_data()) == (b.status_code, b.get_data())
    drop = {"Date"}
    assert [h for h in a.headers if h[0] not in drop] == [h for h in b.headers if h[0] not in drop]


def drift_rows(text: str) -> list[tuple[str, ...]]:
    """(kind, table, column/index, severity, healable) of each row of the drift tables."""
    rows = re.findall(r'<tr class="severity-\w+">(.*?)</tr>', text, flags=re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S) for r in rows]
    return [tuple(re.sub(r"<[^>]+>", "", c).strip() for c in row[:5]) for row in cells]


SEED_ROWS = [
    ("missing_table", "step_execution_logs", "–", "error", "yes"),
    ("missing_column", "crucible_runs", "chat_session_id", "error", "yes"),
    ("missing_index", "crucible_runs", "ix_crucible_runs_chat_session_id", "warning", "yes"),
]


# -- negotiation: the JSON stays exactly as it was -----------------------------------------
@fa.SQLITE_ONLY
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("accept", MACHINE_ACCEPTS)
def test_machine_clients_get_the_json_unchanged(
    make_example: MakeApp, accept: str | None, debug: bool
) -> None:
    app = make_example(DEBUG=debug)
    client = app.test_client()
    headers = {"Accept": accept} if accept is not None else {}
    for path, mimetype in ((FAILING_PAGE, "application/problem+json"), (HEALTH, None)):
        baseline = client.get(path)
        response = client.get(path, headers=headers)
        same_response(response, baseline)
        assert response.mimetype == (mimetype or "application/health+json")


def test_a_browser_in_production_gets_the_json_unchanged(make_example: MakeApp) -> None:
    app = make_example(SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
    client = app.test_client()
    for path in (FAILING_PAGE, HEALTH):
        baseline = client.get(path)
        for headers in (
            html(),
            html(Authorization="Bearer wrong"),
            html(Authorization=f"Basic {TOKEN}"),
        ):
            response = client.get(path, headers=headers)
            same_response(response, baseline)
            assert response.mimetype != "text/html"
            text = response.get_data(as_text=True)
            assert "Heal now" not in text and "csrf" not in text and TOKEN not in text
    assert "details" not in client.get(HEALTH, headers=html()).json
    # and nothing to post to
    assert client.post(HEAL, headers={"Origin": ORIGIN}).status_code == 404


# -- the drift page ---------------------------------------------------------------------------
def test_drift_page_in_debug(make_example: MakeApp) -> None:
    app = make_example(DEBUG=True)
    guard = app.extensions["schemaguard"].guard
    with app.app_context():
        plan = guard.plan()
        url = display_url(app.extensions["sqlalchemy"].engine)
    response = app.test_client().get(FAILING_PAGE, headers=html())
    text = response.get_data(as_text=True)
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script" not in text.lower()
    assert "<h1>Database schema out of date</h1>" in text
    assert f"<code>GET {FAILING_PAGE}</code>" in text
    assert f'<code class="url">{breakable(url)}</code>' in text  # masked; SQLite's path
    assert drift_rows(text) == SEED_ROWS
    assert f"The plan: {len(plan)} operations" in text
    for op in plan:
        assert f"<code>{breakable(op.describe())}</code>" in text
        assert LOCKS[op.lock.value][0] in text
        assert op.sql.splitlines()[0].replace("'", "&#39;") in text
    assert "FROM step_execution_logs" in text  # the failing statement, in debug
    assert 'action="/_schemaguard/heal"' in text and 'name="next" value="/sessions/1"' in text
    csrf_of(text)
    headings_in_order(text)


def test_drift_page_with_the_token_shows_only_what_the_json_does(
    make_example: MakeApp, db_url: str
) -> None:
    app = make_example(SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
    client = app.test_client()
    response = client.get(FAILING_PAGE, headers=html(Authorization=f"Bearer {TOKEN}"))
    text = response.get_data(as_text=True)
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert drift_rows(text) == SEED_ROWS
    assert f"<code>{breakable('create_table step_execution_logs')}</code>" in text
    assert "Heal now" in text
    csrf_of(text)
    url = sa.make_url(db_url)
    for secret in ("SELECT", "CREATE TABLE", "CREATE INDEX", "ALTER TABLE", TOKEN):
        assert secret not in text
    for part in (url.database, url.host, f"{url.username}@"):
        if part and part != "None@":
            assert part not in text
    assert 'class="url"' not in text


def test_heal_mode_page_says_it_healed(make_example: MakeApp) -> None:
    app = make_example(DEBUG=True, SCHEMAGUARD_MODE="heal", SCHEMAGUARD_RUN_ON="manual")
    response = app.test_client().get(FAILING_PAGE, headers=html())
    text = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"] == "0"
    assert "The guard has just healed this" in text and 'href="/sessions/1"' in text
    assert app.test_client().get(FAILING_PAGE).status_code == 200


@fa.SQLITE_ONLY
def test_a_failing_post_is_not_replayed(make_example: MakeApp) -> None:
    app = make_example(DEBUG=True)
    client = app.test_client()
    page = client.post("/api/sessions/1/run-next-step", headers=html())
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and "POST /api/sessions/1/run-next-step" in text
    assert 'name="next"' not in text
    done = client.post(
        HEAL,
        data={"schemaguard_csrf": csrf_of(text), "retry": "POST /api/sessions/1/run-next-step"},
        headers=html(Origin=ORIGIN),
    )
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and "<h1>Healed</h1>" in body
    assert "was not sent again" in body
    assert client.post("/api/sessions/1/run-next-step").status_code == 200


def test_unhealable_drift_gets_the_commands(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url)
    app = fa.build_app(db_url, tmp_path, {"SCHEMAGUARD_MODE": "check"}, priority=True, debug=True)
    try:
        text = app.test_client().get("/logs", headers=html()).get_data(as_text=True)
        row = [r for r in drift_rows(text) if r[2] == "priority"]
        assert row == [("missing_column", "runs", "priority", "error", "no")]
        assert "flask schemaguard revision" in text and "flask db upgrade" in text
    finally:
        fa.cleanup()


def test_commands() -> None:
    def report(*kinds: DriftKind, healable: bool = False) -> DriftReport:
        return DriftReport(tuple(Drift(k, "t", None, Severity.ERROR, healable, "x") for k in kinds))

    assert commands(DriftReport()) == []
    [pending] = commands(report(DriftKind.PENDING_MIGRATIONS))
    assert pending["command"] == "flask db upgrade"
    [stuck] = commands(report(DriftKind.TYPE_MISMATCH))
    assert stuck["command"].splitlines() == [
        'flask schemaguard revision -m "schema drift"',
        "flask db upgrade",
    ]
    [heal] = commands(report(DriftKind.MISSING_TABLE, healable=True))
    assert heal["command"] == "flask schemaguard heal"


@fa.SQLITE_ONLY
def test_the_apps_context_processors_do_not_run(make_example: MakeApp) -> None:
    app = make_example(DEBUG=True)

    @app.context_processor
    def broken() -> dict[str, Any]:
        raise AssertionError("the page must not use the app's template context")

    response = app.test_client().get(FAILING_PAGE, headers=html())
    assert response.status_code == 503 and response.mimetype == "text/html"


@fa.SQLITE_ONLY
def test_the_stylesheet_is_served_by_the_app(make_example: MakeApp) -> None:
    app = make_example()
    response = app.test_client().get("/_schemaguard/static/schemaguard.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert "url(" not in response.get_data(as_text=True)  # no external asset
    response.close()


def headings_in_order(text: str) -> None:
    """One h1, and no heading level skipped (what a screen reader's outline needs)."""
    levels = [int(n) for n in re.findall(r"<h([1-6])[ >]", text)]
    assert levels[0] == 1 and levels.count(1) == 1, levels
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_contrast_is_wcag_aaa_in_both_colour_schemes() -> None:
    css = (Path(pages.__file__).parent / "static" / "schemaguard.css").read_text()
    light, dark = css.split("@media (prefers-color-scheme: dark)", 1)
    pairs = [
        ("text", "bg"), ("muted", "bg"), ("muted", "panel"), ("error", "error-bg"),
        ("warning", "warning-bg"), ("warning", "bg"), ("ok", "ok-bg"), ("ok", "bg"),
        ("info", "info-bg"), ("accent", "bg"),
    ]  # fmt: skip
    for scheme in (light, dark.split("}", 2)[0] + "}"):
        colours = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6});", scheme))
        for fg, bg in pairs:
            a, b = sorted((_luminance(colours[fg]), _luminance(colours[bg])), reverse=True)
            assert (a + 0.05) / (b + 0.05) >= 7, (fg, bg)
    assert "color: #fff; background: #0b4fb3;" in css  # the button: 7.5:1


# -- the health page --------------------------------------------------------------------------
def test_health_page(make_example: MakeApp, db_kind: str) -> None:
    app = make_example(DEBUG=True)
    client = app.test_client()
    before = client.get(HEALTH, headers=html())
    text = before.get_data(as_text=True)
    assert before.status_code == 503 and before.mimetype == "text/html"
    assert '<span class="badge badge-fail">fail</span>' in text
    assert f"Bind <code>default</code> ({db_kind})" in text
    assert drift_rows(text) == SEED_ROWS
    assert "The guard has not changed this database yet." in text
    headings_in_order(text)
    done = client.post(
        HEAL, data={"schemaguard_csrf": csrf_of(text), "next": HEALTH}, headers=html(Origin=ORIGIN)
    )
    assert done.status_code == 303 and done.headers["Location"] == HEALTH
    after = client.get(HEALTH, headers=html())
    text = after.get_data(as_text=True)
    assert after.status_code == 200 and '<span class="badge badge-pass">pass</span>' in text
    assert "No drift: the database matches the models." in text
    applied = len(rel.audit_rows(str(app.config["SQLALCHEMY_DATABASE_URI"])))
    assert f"{applied} applied,\n0 failed." in text
    assert f"<code>{breakable('create_table')}</code>" in text
    assert f">{breakable('step_execution_logs')}</td>" in text
    assert client.get(HEALTH).json["status"] == "pass"  # the JSON agrees at once


@fa.SQLITE_ONLY
def test_health_page_with_the_token(make_example: MakeApp) -> None:
    app = make_example(SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
    assert app.extensions["schemaguard"].guard.heal(app=app).after.in_sync
    response = app.test_client().get(HEALTH, headers=html(Authorization=f"Bearer {TOKEN}"))
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert '<h2 id="history-heading">Recent history</h2>' in text
    assert f"<code>{breakable('create_table')}</code>" in text
    assert "Process" not in text and 'class="url"' not in text and "sqlite:" not in text


# -- the Heal now POST ------------------------------------------------------------------------
REFUSALS = {
    "no token": ({"Origin": ORIGIN}, None),
    "wrong token": ({"Origin": ORIGIN}, "0" * 64),
    "other origin": ({"Origin": "http://evil.example"}, "valid"),
    "other port": ({"Origin": "http://localhost:8080"}, "valid"),
    "null origin": ({"Origin": "null"}, "valid"),
    "no origin or referer": ({}, "valid"),
    "other referer": ({"Referer": "http://evil.example/sessions/1"}, "valid"),
}


@fa.SQLITE_ONLY
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_heal_post_refused(make_example: MakeApp, db_url: str, case: str) -> None:
    app = make_example(DEBUG=True)
    client = app.test_client()
    valid = csrf_of(client.get(FAILING_PAGE, headers=html()).get_data(as_text=True))
    headers, token = REFUSALS[case]
    data = {"next": FAILING_PAGE}
    if token is not None:
        data["schemaguard_csrf"] = valid if token == "valid" else token
    response = client.post(HEAL, data=data, headers=html(**headers))
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "Heal refused" in response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert not in_sync(app) and rel.audit_rows(db_url) == []


@fa.SQLITE_ONLY
def test_heal_post_needs_debug_or_the_token(make_example: MakeApp, db_url: str) -> None:
    app = make_example(SCHEMAGUARD_HEALTH_TOKEN=TOKEN)
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    token = csrf_of(client.get(FAILING_PAGE, headers=html(**bearer)).get_data(as_text=True))
    data = {"schemaguard_csrf": token, "next": FAILING_PAGE}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        assert (
            client.post(HEAL, data=data, headers={"Origin": ORIGIN, **headers}).status_code == 404
        )
    assert not in_sync(app) and rel.audit_rows(db_url) == []
    done = client.post(HEAL, data=data, headers={"Origin": ORIGIN, **bearer})
    assert done.status_code == 303 and done.headers["Location"] == FAILING_PAGE
    assert in_sync(app)


@fa.SQLITE_ONLY
def test_heal_post_same_origin_by_referer(make_example: MakeApp) -> None:
    app = make_example(DEBUG=True)
    client = app.test_client()
    token = csrf_of(client.get(FAILING_PAGE, headers=html()).get_data(as_text=True))
    done = client.post(
        HEAL,
        data={"schemaguard_csrf": token, "next": FAILING_PAGE},
        headers={"Referer": f"{ORIGIN}{FAILING_PAGE}"},
    )
    assert done.status_code == 303 and in_sync(app)
    assert client.get(FAILING_PAGE).status_code == 200


@fa.SQLITE_ONLY
@pytest.mark.parametrize(
    "next_url", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_heal_post_goes_back_only_to_this_site(make_example: MakeApp, next_url: str) -> None:
    app = make_example(DEBUG=True)
    client = app.test_client()
    token = csrf_of(client.get(FAILING_PAGE, headers=html()).get_data(as_text=True))
    done = client.post(
        HEAL, data={"schemaguard_csrf": token, "next": next_url}, headers=html(Origin=ORIGIN)
    )
    assert done.status_code == 200 and "Location" not in done.headers
    assert "<h1>Healed</h1>" in done.get_data(as_text=True)


def test_failed_heal_shows_what_failed_and_why(db_url: str, tmp_path: Path) -> None:
    fa.old_schema(db_url, names=("same", "same"))
    config = {"SCHEMAGUARD_MODE": "check", "SCHEMAGUARD_ALLOWED_OPERATIONS": sorted(ALL_OPERATIONS)}
    config["SCHEMAGUARD_HEALTH_TOKEN"] = TOKEN
    app = fa.build_app(db_url, tmp_path, config, unique_name=True, debug=True)
    try:
        client = app.test_client()
        token = csrf_of(client.get("/logs", headers=html()).get_data(as_text=True))
        done = client.post(
            HEAL, data={"schemaguard_csrf": token, "next": "/logs"}, headers=html(Origin=ORIGIN)
        )
        text = done.get_data(as_text=True)
        assert done.status_code == 503 and "The heal did not fix everything" in text
        failed = re.search(r'<ul class="failed">(.*?)</ul>', text, flags=re.S)
        assert failed and "<code>create_unique_index runs.ix_runs_name</code>" in failed.group(1)
        [row] = [r for r in fa.audit_rows(db_url) if r["outcome"] == "failed"]
        why = failed.group(1).split("</code>:", 1)[1].strip()
        assert why == f"{escape(row['error'])}</li>"  # the database's own message
        assert "Location" not in done.headers
        # with the token (not debug) the database's message stays in the log
        app.debug = False
        fa.execute(db_url, "UPDATE runs SET name = 'other' WHERE id = 2")
        fa.execute(db_url, "INSERT INTO runs (id, name) VALUES (3, 'other')")
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        again = client.post(
            HEAL, data={"schemaguard_csrf": token}, headers=html(Origin=ORIGIN, **bearer)
        ).get_data(as_text=True)
        failed = re.search(r'<ul class="failed">(.*?)</ul>', again, flags=re.S)
        assert failed and "see the server log" in failed.group(1)
        assert "other" not in failed.group(1)
    finally:
        fa.cleanup()


# -- config -----------------------------------------------------------------------------------
def test_csrf_token_is_per_app_and_shared_by_its_workers(tmp_path: Path) -> None:
    def token(name: str, **config: Any) -> str:
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        engine = sa.create_engine(url)
        app = Flask(name)
        app.config.update(SCHEMAGUARD_RUN_ON="manual", **config)
        SchemaGuard(app, metadata=sa.MetaData(), engine=engine)
        with app.test_request_context():
            value = csrf_token(app.extensions["schemaguard"])
        engine.dispose()
        return value

    assert token("a", SECRET_KEY="k1") == token("b", SECRET_KEY="k1")  # two workers
    assert token("a", SECRET_KEY="k1") != token("a", SECRET_KEY="k2")
    assert token("a", SCHEMAGUARD_HEALTH_TOKEN="t") == token("b", SCHEMAGUARD_HEALTH_TOKEN="t")
    assert token("a") != token("a")  # no secret: random per app
    assert "k1" not in token("a", SECRET_KEY="k1")


@fa.SQLITE_ONLY
def test_mode_off_has_no_pages(make_example: MakeApp) -> None:
    app = make_example(DEBUG=True, SCHEMAGUARD_MODE="off")
    client = app.test_client()
    assert client.post(HEAL, headers={"Origin": ORIGIN}).status_code == 404
    assert client.get("/_schemaguard/static/schemaguard.css").status_code == 404


# -- leaks ------------------------------------------------------------------------------------
@pytest.fixture
def password_url(db_kind: str, db_url: str) -> Iterator[str]:
    """The test database, reached as a new user whose password is ``PASSWORD``."""
    if db_kind == "sqlite":
        pytest.skip("SQLite has no passwords")
    name = "sg_pg_" + uuid.uuid4().hex[:8]
    url = sa.make_url(db_url)
    admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if db_kind == "postgresql":
                conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
                conn.exec_driver_sql(f"GRANT ALL ON DATABASE {url.database} TO {name}")
                conn.exec_driver_sql(f"GRANT ALL ON SCHEMA public TO {name}")
            else:
                conn.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY '{PASSWORD}'")
                conn.exec_driver_sql(f"GRANT ALL ON `{url.database}`.* TO '{name}'@'%%'")
        yield url.set(username=name, password=PASSWORD).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if db_kind == "postgresql":
                conn.exec_driver_sql(f"DROP OWNED BY {name}")
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {name}")
            else:
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")
        admin.dispose()


def _leak_app(url: str, **config: Any) -> tuple[Flask, sa.Engine]:
    rel.make_drifted(url)
    engine = sa.create_engine(url)
    app = Flask(__name__)
    app.config.update(SCHEMAGUARD_MODE="check", SCHEMAGUARD_HEALTH_TOKEN=TOKEN, **config)
    SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)

    @app.get("/logs")
    def logs() -> Any:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id FROM step_execution_logs WHERE status = :s"), {"s": PARAMETER}
            ).all()
        return {"n": len(rows)}

    return app, engine


def _pages(app: Flask, headers: dict[str, str]) -> list[str]:
    client = app.test_client()
    drift = client.get("/logs", headers=html(**headers))
    health = client.get(HEALTH, headers=html(**headers))
    assert drift.mimetype == health.mimetype == "text/html"
    token = csrf_of(drift.get_data(as_text=True))
    healed = client.post(
        HEAL,
        data={"schemaguard_csrf": token, "next": HEALTH},
        headers=html(Origin=ORIGIN, **headers),
    )
    assert healed.status_code == 303
    after = client.get(HEALTH, headers=html(**headers))
    return [r.get_data(as_text=True) for r in (drift, health, after)]


def test_pages_never_show_the_password(password_url: str) -> None:
    app, engine = _leak_app(password_url)
    try:
        app.debug = True
        debug = _pages(app, {})
        assert "***" in debug[0]  # the masked URL
        rel.make_drifted(password_url)
        app.debug = False
        app.extensions["schemaguard"].health_cache = None
        token = _pages(app, {"Authorization": f"Bearer {TOKEN}"})
    finally:
        engine.dispose()
    for text in debug + token:
        assert PASSWORD not in text and PARAMETER not in text
    host = str(sa.make_url(password_url).host)
    assert all(host not in text and "***" not in text for text in token)


def test_pages_never_show_sql_parameters(db_url: str) -> None:
    app, engine = _leak_app(db_url, DEBUG=True)
    try:
        debug = app.test_client().get("/logs", headers=html()).get_data(as_text=True)
        app.debug = False
        token = (
            app.test_client()
            .get("/logs", headers=html(Authorization=f"Bearer {TOKEN}"))
            .get_data(as_text=True)
        )
    finally:
        engine.dispose()
    assert "FROM step_execution_logs WHERE status" in debug  # the statement, in debug
    assert PARAMETER not in debug
    assert "SELECT" not in token and PARAMETER not in token and "CREATE" not in token
