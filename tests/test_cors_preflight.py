"""CORS for browsers: a cross-origin JSON POST is preceded by a preflight, and without an
answer to it the browser never sends the POST, so never sees the problem JSON.

Header-level tests first (the preflight exactly as a browser sends it), then the real thing:
headless Chromium on a page of one origin POSTing JSON to the app on another, with the guard
answering the preflight, with flask-cors answering it, with credentials, and with CORS off
(the browser is blocked: the test can tell). CORS does not depend on the database: SQLite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_apps as fa
import pytest
from flask import Flask
from werkzeug.serving import make_server

from flask_schemaguard import SchemaGuardError

FRONT = "https://app.example.com"
PREFLIGHT = {
    "Origin": FRONT,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    fa.cleanup()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    fa.old_schema(url)
    return url


def build(sqlite_url: str, tmp_path: Path, cors: bool = False, **config: Any) -> Flask:
    def setup(app: Flask, models: Any) -> None:
        if cors:
            from flask_cors import CORS

            CORS(app, origins=[FRONT, r"http://127\.0\.0\.1:\d+"], supports_credentials=True)

    return fa.build_app(sqlite_url, tmp_path, {"SCHEMAGUARD_MODE": "check", **config}, setup=setup)


# -- the preflight, header by header ---------------------------------------------------------


def test_the_guard_answers_a_preflight_without_flask_cors(sqlite_url: str, tmp_path: Path) -> None:
    client = build(sqlite_url, tmp_path).test_client()
    answer = client.options("/runs", headers=PREFLIGHT)
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Access-Control-Allow-Methods"] == "POST"
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type"
    assert answer.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    # then the POST itself: the problem JSON, readable cross-origin
    post = client.post("/runs", json={"id": 2, "name": "x", "note": "n"}, headers={"Origin": FRONT})
    assert post.status_code == 503 and post.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/runs", {**PREFLIGHT, "Access-Control-Request-Method": "DELETE"}),  # not served
        ("/runs", {"Origin": FRONT}),  # a plain OPTIONS, not a preflight
        ("/nowhere", PREFLIGHT),  # no such route: 404
    ],
    ids=["method-not-served", "not-a-preflight", "no-route"],
)
def test_what_is_not_a_preflight_for_a_route_gets_no_cors(
    sqlite_url: str, tmp_path: Path, path: str, headers: dict[str, str]
) -> None:
    answer = build(sqlite_url, tmp_path).test_client().options(path, headers=headers)
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Methods" not in answer.headers


def test_listed_origins_and_credentials(sqlite_url: str, tmp_path: Path) -> None:
    config = {"SCHEMAGUARD_CORS_ORIGINS": [FRONT], "SCHEMAGUARD_CORS_CREDENTIALS": True}
    client = build(sqlite_url, tmp_path, **config).test_client()
    answer = client.options("/runs", headers=PREFLIGHT)
    assert answer.headers.getlist("Access-Control-Allow-Origin") == [FRONT]
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert {"Origin", "Access-Control-Request-Method"} <= set(answer.vary)
    post = client.post("/runs", json={"id": 2, "name": "x", "note": "n"}, headers={"Origin": FRONT})
    assert post.status_code == 503
    assert post.headers["Access-Control-Allow-Credentials"] == "true"
    other = {**PREFLIGHT, "Origin": "https://evil.example.com"}
    refused = client.options("/runs", headers=other)
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Access-Control-Allow-Credentials" not in refused.headers


def test_credentials_never_go_with_any_origin(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(SchemaGuardError) as info:
        build(sqlite_url, tmp_path, SCHEMAGUARD_CORS_CREDENTIALS=True)
    assert "SCHEMAGUARD_CORS_CREDENTIALS" in str(info.value)
    assert "SCHEMAGUARD_CORS_ORIGINS='*'" in str(info.value)


def test_with_flask_cors_the_guard_adds_nothing(sqlite_url: str, tmp_path: Path) -> None:
    client = build(sqlite_url, tmp_path, cors=True).test_client()
    answer = client.options("/runs", headers=PREFLIGHT)
    assert answer.headers.getlist("Access-Control-Allow-Origin") == [FRONT]  # flask-cors's
    assert "Access-Control-Max-Age" not in answer.headers  # ours would say 600
    post = client.post("/runs", json={"id": 2, "name": "x", "note": "n"}, headers={"Origin": FRONT})
    assert post.headers.getlist("Access-Control-Allow-Origin") == [FRONT]


# -- a real browser ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PAGE = """<!doctype html><html><body>waiting<script>
fetch("%(api)s/runs", {method: "POST", credentials: "%(credentials)s",
  headers: {"Content-Type": "application/json"},
  body: JSON.stringify({id: 2, name: "x", note: "a note"})})
  .then(r => r.json().then(b => { document.body.textContent = JSON.stringify(
     {status: r.status, type: r.headers.get("Content-Type"), body: b}); }))
  .catch(e => { document.body.textContent = JSON.stringify({blocked: String(e)}); });
</script></body></html>"""


class Server:
    """A real WSGI server on 127.0.0.1 in a thread."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def browse(url: str, tmp_path: Path) -> dict[str, Any]:
    """What the page at ``url`` wrote into its body, after its fetch, in headless Chromium."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    body = done.stdout.split("<body>", 1)[-1].split("</body>", 1)[0]
    result: dict[str, Any] = json.loads(body)
    return result


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: chromium)")
@pytest.mark.parametrize(
    ("setup", "credentials", "reaches"),
    [
        ("guard", "same-origin", True),
        ("guard-credentials", "include", True),
        ("guard-no-credentials", "include", False),  # credentials asked, not allowed
        ("flask-cors", "include", True),
        ("cors-off", "same-origin", False),
    ],
)
def test_a_browser_reaches_the_problem_json(
    sqlite_url: str, tmp_path: Path, setup: str, credentials: str, reaches: bool
) -> None:
    front = Flask("front")
    front_server = Server(front)
    config: dict[str, Any] = {}
    if setup in ("guard-credentials", "guard-no-credentials"):
        config["SCHEMAGUARD_CORS_ORIGINS"] = [front_server.origin]
        config["SCHEMAGUARD_CORS_CREDENTIALS"] = setup == "guard-credentials"
    if setup == "cors-off":
        config["SCHEMAGUARD_CORS_ORIGINS"] = None
    api = Server(build(sqlite_url, tmp_path, cors=setup == "flask-cors", **config))

    @front.get("/")
    def page() -> str:
        return PAGE % {"api": api.origin, "credentials": credentials}

    try:
        result = browse(front_server.origin + "/", tmp_path)
    finally:
        api.close()
        front_server.close()
    if not reaches:
        assert "blocked" in result, result
        return
    assert result["status"] == 503 and result["type"] == "application/problem+json"
    body = result["body"]
    assert (body["drift"], body["table"], body["column"]) == ("missing_column", "runs", "note")
