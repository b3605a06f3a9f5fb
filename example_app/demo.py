"""``make demo``: the two incidents of the seeds, healed by flask-schemaguard, in one story.

Runs the real commands a user would type (``flask schemaguard ...``, ``flask run``) against a
temporary SQLite database (or ``--database-url``, whose example tables are dropped and made
again), and prints what each step shows. Exits 0 when every step behaved as told, 1 otherwise.
With Chromium installed it also saves screenshots of the pages for people in its temporary
directory (the only files it leaves there) and says where.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = "http://localhost:3000"
STARTUP_TIMEOUT = 30.0


class DemoError(Exception):
    """A step did not behave as the story says."""


class Story:
    def __init__(self) -> None:
        self.number = 0

    def step(self, text: str) -> None:
        self.number += 1
        print(f"\n{self.number}. {text}", flush=True)

    @staticmethod
    def show(text: str, prefix: str = "   | ") -> None:
        for line in text.rstrip("\n").splitlines():
            print(prefix + line, flush=True)

    @staticmethod
    def note(text: str) -> None:
        print(textwrap.indent(text, "   "), flush=True)


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of the commands: no stray FLASK_* settings, the demo's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def flask(args: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``flask --app example_app ARGS`` with this interpreter (works without activating)."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_app", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_cli(story: Story, args: Sequence[str], env: Mapping[str, str], expect: int) -> str:
    print(f"   $ flask --app example_app {' '.join(args)}", flush=True)
    done = flask(args, env)
    story.show(done.stdout)
    if done.returncode != expect:
        story.show(done.stderr)
        raise DemoError(f"`flask {' '.join(args)}` exited {done.returncode}, expected {expect}")
    print(f"   (exit status {done.returncode})", flush=True)
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(env: Mapping[str, str], log_path: Path, *args: str) -> Iterator[str]:
    """``flask run`` on a free port as a real subprocess; always terminated and waited for."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "example_app", "run"]
            + ["--host", "127.0.0.1", "--port", str(port), *args],
            cwd=ROOT,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise DemoError(
                    f"the server exited with status {proc.returncode}:\n{log_path.read_text()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"the server did not start within {STARTUP_TIMEOUT:g} s"
                    ) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request(
    base: str, method: str, path: str, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], object]:
    req = urllib.request.Request(base + path, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            status, head, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, head, body = error.code, dict(error.headers), error.read()
    return status, head, json.loads(body) if body else None


def show_response(
    story: Story,
    method: str,
    path: str,
    reply: tuple[int, dict[str, str], object],
    expect: int,
    headers: Sequence[str] = (),
    indent: int | None = None,
) -> object:
    status, head, body = reply
    print(f"   > {method} {path}", flush=True)
    story.show(f"HTTP {status}")
    for name in headers:
        if name in head:
            story.show(f"{name}: {head[name]}")
    story.show(json.dumps(body, indent=indent))
    if status != expect:
        raise DemoError(f"{method} {path} answered {status}, expected {expect}")
    return body


def schemaguard_lines(log_path: Path) -> str:
    lines = [ln for ln in log_path.read_text().splitlines() if "schemaguard:" in ln]
    return "\n".join(ln.split("schemaguard: ", 1)[1] for ln in lines)


def make_old_database(story: Story, url: str) -> None:
    from flask_schemaguard.dialects import display_url

    from .old_schema import create_old_database

    counts = create_old_database(url)
    import sqlalchemy as sa

    story.note(f"database: {display_url(sa.make_url(url))}")
    story.note("rows: " + ", ".join(f"{n} {t}" for t, n in counts.items() if n))


def heal_mode(story: Story, url: str, workdir: Path) -> None:
    env = child_env(url)
    story.step("Create the database as it was before StepExecutionLog and Run.chat_session_id.")
    make_old_database(story, url)

    story.step("`flask schemaguard status` compares the models with that database: drift, exit 1.")
    run_cli(story, ["schemaguard", "status"], env, expect=1)

    story.step("Start the app as a real server; in heal mode (the default) it heals at startup.")
    print("   $ flask --app example_app run", flush=True)
    log_path = workdir / "server-heal.log"
    with server(env, log_path) as base:
        story.show(schemaguard_lines(log_path))

        story.step(
            "The request that failed with `no such table: step_execution_logs` now writes its row."
        )
        path = "/api/sessions/1/run-next-step"
        show_response(story, "POST", path, request(base, "POST", path), expect=200)

        story.step(
            "The request that failed with `no such column: crucible_runs.chat_session_id` works."
        )
        path = "/projects/1/runs/summary"
        show_response(story, "GET", path, request(base, "GET", path), expect=200)

    story.step("Stop the server and ask `status` again: in sync, exit 0.")
    run_cli(story, ["schemaguard", "status"], env, expect=0)

    story.step("`flask schemaguard history`: the audit trail of every DDL statement it ran.")
    run_cli(story, ["schemaguard", "history"], env, expect=0)


def check_mode(story: Story, url: str, workdir: Path) -> None:
    env = child_env(url, FLASK_SCHEMAGUARD_MODE="check")
    story.step("Now check mode (SCHEMAGUARD_MODE=check) on a newly made old database: report only.")
    make_old_database(story, url)
    print("   $ FLASK_SCHEMAGUARD_MODE=check flask --app example_app run", flush=True)
    log_path = workdir / "server-check.log"
    with server(env, log_path) as base:
        story.show(schemaguard_lines(log_path))

        story.step(
            "The front end (another origin) gets a 503 problem JSON it can read: CORS headers on."
        )
        path = "/api/sessions/1/run-next-step"
        reply = request(base, "POST", path, {"Origin": FRONTEND})
        body = show_response(
            story,
            "POST",
            path + f"  (Origin: {FRONTEND})",
            reply,
            expect=503,
            headers=("Content-Type", "Access-Control-Allow-Origin", "Retry-After"),
            indent=2,
        )
        if reply[1].get("Access-Control-Allow-Origin") != FRONTEND:
            raise DemoError("the error response has no CORS header for the front end")
        if not isinstance(body, dict) or body.get("code") != "SCHEMA_DRIFT":
            raise DemoError("the error response is not the schema-drift problem JSON")

        story.step("The summary still answers: the missing column is not selected, reads as null.")
        path = "/projects/1/runs/summary"
        show_response(story, "GET", path, request(base, "GET", path), expect=200)

        story.step("The health endpoint: what a load balancer or monitor sees (fail, 503).")
        path = "/healthz/schema"
        show_response(
            story, "GET", path, request(base, "GET", path), expect=503, headers=("Content-Type",)
        )


def pages_for_people(story: Story, url: str, workdir: Path) -> list[Path]:
    """Debug mode, a browser: the drift page, Heal now, the health page. The screenshots."""
    from . import demo_pages as pages

    env = child_env(url, FLASK_SCHEMAGUARD_MODE="check")
    story.step("A developer opens the failing page in a browser, the app in debug mode.")
    make_old_database(story, url)
    print("   $ FLASK_SCHEMAGUARD_MODE=check flask --app example_app run --debug", flush=True)
    shots: list[Path] = []
    with server(env, workdir / "server-pages.log", "--debug", "--no-reload") as base:
        path = "/sessions/1"
        status, head, page = pages.fetch(base, "GET", path, {"Accept": pages.BROWSER_ACCEPT})
        print(f"   > GET {path}  (Accept: text/html...)", flush=True)
        story.show(f"HTTP {status}\nContent-Type: {head.get('Content-Type')}")
        story.show(pages.heading(page))
        story.show("\n".join("  ".join(row) for row in pages.drift_rows(page)))
        story.show(f"The plan: {pages.plan_size(page)} operations, each with its SQL and lock")
        story.show("[ Heal now ]")
        if status != 503 or not head.get("Content-Type", "").startswith("text/html"):
            raise DemoError(f"GET {path} in a browser answered {status}, expected the HTML page")
        shot = workdir / "drift-page.png"
        story.note(pages.screenshot(base + path, shot))
        shots += [shot] if shot.exists() else []

        story.step("Heal now: the form posts to the app (same origin, CSRF token), then goes back.")
        fields = pages.form_fields(page)
        status, head, _ = pages.fetch(base, "POST", "/_schemaguard/heal", {"Origin": base}, fields)
        print("   > POST /_schemaguard/heal  (the page's form)", flush=True)
        story.show(f"HTTP {status}\nLocation: {head.get('Location')}")
        status, _, page = pages.fetch(base, "GET", path, {"Accept": pages.BROWSER_ACCEPT})
        print(f"   > GET {path}", flush=True)
        story.show(f"HTTP {status}: {pages.heading(page)}")
        if status != 200:
            raise DemoError(f"GET {path} after Heal now answered {status}, expected 200")

        story.step("The health page for a person; a monitor still gets application/health+json.")
        health = "/healthz/schema"
        status, head, page = pages.fetch(base, "GET", health, {"Accept": pages.BROWSER_ACCEPT})
        print(f"   > GET {health}  (Accept: text/html...)", flush=True)
        story.show(f"HTTP {status}\n{pages.heading(page)}\nLast heal: {pages.last_heal(page)}")
        shot = workdir / "health-page.png"
        story.note(pages.screenshot(base + health, shot))
        shots += [shot] if shot.exists() else []
        status, head, _ = pages.fetch(base, "GET", health)
        print(f"   > GET {health}", flush=True)
        story.show(f"HTTP {status}\nContent-Type: {head.get('Content-Type')}")
        if head.get("Content-Type") != "application/health+json":
            raise DemoError("a monitor did not get application/health+json")
    return shots


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m example_app.demo", description=__doc__)
    parser.add_argument(
        "--database-url",
        help="run on this database instead of a temporary SQLite file (the example app's "
        "tables there are dropped and made again)",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="schemaguard-demo-"))
    from . import with_driver

    given = with_driver(args.database_url) if args.database_url else None
    heal_url = given or f"sqlite:///{workdir / 'multi_role_chat.db'}"
    check_url = given or f"sqlite:///{workdir / 'multi_role_chat_check.db'}"
    pages_url = given or f"sqlite:///{workdir / 'multi_role_chat_pages.db'}"
    print("flask-schemaguard demo: the models changed, the database did not.")
    print("The example app (example_app/) is a multi-role chat and an evaluation-run API.")
    story = Story()
    shots: list[Path] = []
    try:
        heal_mode(story, heal_url, workdir)
        check_mode(story, check_url, workdir)
        shots = pages_for_people(story, pages_url, workdir)
    except (DemoError, subprocess.TimeoutExpired) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        keep_only(workdir, shots)
    print(
        "\nDone. Heal mode fixed both incidents at startup; check mode explained them"
        "\ninstead of failing obscurely; in debug mode a person reads and heals the drift"
        "\nfrom the page. Next: README.md, `make test`."
    )
    if shots:
        print(f"Screenshots of the pages: {', '.join(str(s) for s in shots)}")
    return 0


def keep_only(workdir: Path, keep: Sequence[Path]) -> None:
    """Remove the demo's directory, but for the screenshots it was asked to keep."""
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    for entry in workdir.iterdir():
        if entry not in keep:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
