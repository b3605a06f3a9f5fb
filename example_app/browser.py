"""A real browser for the demo and the page tests: Debian's ``chromium`` driven by its
``chromedriver`` through Selenium, headless, JavaScript off, and a real WSGI server
(werkzeug's, in a thread) on 127.0.0.1.

Nothing is downloaded: the browser and driver must be installed (``apt-get install chromium
chromium-driver``); :func:`missing` says in one line what is not.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)


def _which(names: tuple[str, ...]) -> str | None:
    return next((p for p in map(shutil.which, names) if p), None)


def missing() -> str | None:
    """None when a browser can run here, else why not (one line)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    if _which(BROWSERS) is None:
        return "no chromium on PATH (apt-get install chromium chromium-driver)"
    if _which(DRIVERS) is None:
        return "no chromedriver on PATH (apt-get install chromium-driver)"
    return None


@contextmanager
def chrome(
    *,
    width: int = 1100,
    height: int = 900,
    headers: Mapping[str, str] | None = None,
    javascript: bool = False,
) -> Iterator[Any]:
    """A headless Chromium (a Selenium ``WebDriver``) with its own profile, quit afterwards.

    ``headers`` are sent with every request (through the DevTools protocol), as a header
    extension or an operator's proxy would: ``Authorization: Bearer <token>``.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    reason = missing()
    if reason is not None:
        raise RuntimeError(reason)
    profile = tempfile.mkdtemp(prefix="schemaguard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(_which(BROWSERS))
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(_which(DRIVERS))))
    try:
        driver.set_page_load_timeout(60)
        if headers:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": dict(headers)})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def emulate(driver: Any, width: int, height: int, *, mobile: bool) -> None:
    """Lay pages out as on a device of this size (headless windows are at least 500 wide)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def evaluate(driver: Any, expression: str) -> Any:
    """The value of a JavaScript expression, through the DevTools protocol (so it works with
    the page's JavaScript off)."""
    result = driver.execute_cdp_cmd(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}
    )["result"]
    if "value" not in result:
        raise RuntimeError(f"cannot evaluate {expression!r}: {result}")
    return result["value"]


def screenshot(driver: Any, path: Path | str) -> Path:
    """The whole page (not only the window) as a PNG at ``path``."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    out = Path(path)
    out.write_bytes(base64.b64decode(shot["data"]))
    return out


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with werkzeug's threaded WSGI server on a free 127.0.0.1 port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
