"""Health endpoint under load: the cached ``/healthz/schema`` against a bare ``return "ok"``.

    python -m bench.health [--db sqlite|postgresql|mysql | --url URL] [--duration 5]
                           [--clients 8] [--cache-seconds 2] [--threads 8]

Starts ``bench.healthapp`` (Flask-SQLAlchemy + SchemaGuard in heal mode) under waitress in a
child process on 127.0.0.1 (a free port), drives it with a bounded load generator (``--clients``
threads, keep-alive ``http.client`` connections, a fixed duration per endpoint, the two
endpoints alternating in two rounds), and prints requests/s, p50 and p99 latency of both, their
ratio (target: health >= 80% of ok) and the fingerprint queries the app sent while serving the
health endpoint, per cache period (target: at most one per period per process).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from .schema import bench_database

HEALTH = "/healthz/schema"
OK = "/ok"


@dataclass
class Load:
    path: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, other: Load) -> None:
        self.seconds += other.seconds
        self.latencies.extend(other.latencies)
        self.errors += other.errors
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def drive(port: int, path: str, clients: int, duration: float) -> Load:
    """``clients`` threads request ``path`` back to back for ``duration`` seconds."""
    load = Load(path)
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def client() -> None:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        errors = 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            latencies.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()
        with lock:
            load.latencies.extend(latencies)
            load.errors += errors
            for status, count in statuses.items():
                load.statuses[status] = load.statuses.get(status, 0) + count

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - started
    return load


def get_json(port: int, path: str) -> dict[str, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return dict(json.loads(response.read()))
    finally:
        conn.close()


@contextlib.contextmanager
def server(url: str, cache_seconds: float, threads: int) -> Iterator[int]:
    """The app under waitress in a child process; yields its port, stops it afterwards."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.healthapp",
            "--url",
            url,
            "--cache-seconds",
            str(cache_seconds),
            "--threads",
            str(threads),
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("PORT "):
            child.kill()
            _, err = child.communicate(timeout=10)
            raise SystemExit(f"bench.health: the app did not start:\n{line}{err}")
        yield int(line.split()[1])
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


@dataclass
class HealthResult:
    ok: Load
    health: Load
    fingerprints: int
    statements: int
    health_seconds: float
    cache_seconds: float
    #: Seconds of each health phase (the phases alternate with the bare endpoint's).
    phases: tuple[float, ...] = ()

    @property
    def periods(self) -> float:
        """Cache periods begun while serving health: each phase starts one (the cache ran
        out during the bare endpoint's phase before it), then one each ``cache_seconds``."""
        if not self.cache_seconds:
            return 0.0
        return float(sum(math.ceil(p / self.cache_seconds) for p in self.phases))


def run(
    url: str, duration: float, clients: int, cache_seconds: float, threads: int
) -> HealthResult:
    with server(url, cache_seconds, threads) as port:
        for path in (OK, HEALTH, OK, HEALTH):  # warm up: imports, first check, pools
            get_json(port, HEALTH) if path == HEALTH else drive(port, path, 1, 0.2)
        ok, health = Load(OK), Load(HEALTH)
        fingerprints = statements = 0
        phases: list[float] = []
        for _ in range(2):  # alternate, so drift in machine load hits both alike
            ok.add(drive(port, OK, clients, duration / 2))
            before = get_json(port, "/_bench/statements")
            started = time.perf_counter()
            health.add(drive(port, HEALTH, clients, duration / 2))
            phases.append(time.perf_counter() - started)
            after = get_json(port, "/_bench/statements")
            fingerprints += int(after["fingerprint"]) - int(before["fingerprint"])  # type: ignore[call-overload]
            statements += int(after["count"]) - int(before["count"])  # type: ignore[call-overload]
    return HealthResult(
        ok, health, fingerprints, statements, health.seconds, cache_seconds, tuple(phases)
    )


def render(result: HealthResult, label: str) -> str:
    head = (
        f"{'endpoint':<18} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7}  statuses"
    )
    lines = [head, "-" * len(head)]
    for load in (result.ok, result.health):
        lines.append(
            f"{load.path:<18} {len(load.latencies):>9} {load.rate:>9.0f} "
            f"{load.percentile(50) * 1000:>8.2f} {load.percentile(99) * 1000:>8.2f} "
            f"{load.errors:>7}  {dict(sorted(load.statuses.items()))}"
        )
    ratio = result.health.rate / result.ok.rate if result.ok.rate else 0.0
    per_period = result.fingerprints / result.periods if result.periods else float("nan")
    lines += [
        "",
        f"{label}: health reaches {ratio:.0%} of the bare endpoint's requests/s (target >= 80%)",
        f"fingerprint queries while serving health: {result.fingerprints} in "
        f"{result.health_seconds:.1f} s, {result.periods:g} cache periods of "
        f"{result.cache_seconds:g} s begun = {per_period:.2f} per period ({result.statements} "
        "statements in all; target: <= 1 per period)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.health", description=__doc__.split("\n")[0]
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", choices=("sqlite", "postgresql", "mysql"), default="sqlite")
    where.add_argument("--url", help="an existing database to use instead of a fresh one")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per endpoint")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--cache-seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    args = parser.parse_args(argv)
    if args.url:
        result = run(args.url, args.duration, args.clients, args.cache_seconds, args.threads)
        print(render(result, "url"))
        return 0
    with bench_database(args.db) as url:  # SQLite: a file the child process opens too
        result = run(url, args.duration, args.clients, args.cache_seconds, args.threads)
    print(render(result, args.db))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
