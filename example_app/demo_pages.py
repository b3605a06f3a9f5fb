"""What ``make demo`` needs to show the pages for people: plain HTTP with an ``Accept`` header,
the drift table read back from the page, and screenshots in a real browser when one is here.
"""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from . import browser

#: What Chromium sends when a person opens a page.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # show the 303 itself


def fetch(
    base: str,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """One request, redirects not followed: status, headers, body text."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=dict(headers or {}))
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=30) as response:
            status, head, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, head, body = error.code, dict(error.headers), error.read()
    return status, head, body.decode("utf-8", "replace")


def heading(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page, flags=re.S)
    return _text(found.group(1)) if found else ""


def drift_rows(page: str) -> list[list[str]]:
    """Kind, table, column/index, severity, healable of each row of the page's drift tables."""
    rows = re.findall(r'<tr class="severity-\w+">(.*?)</tr>', page, flags=re.S)
    return [[_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)[:5]] for r in rows]


def plan_size(page: str) -> int:
    found = re.search(r"The plan: (\d+) operation", page)
    return int(found.group(1)) if found else 0


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields of the Heal now form."""
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    }


def last_heal(page: str) -> str:
    found = re.search(r'id="last-heal-heading">Last heal</h2>\s*<p>(.*?)</p>', page, flags=re.S)
    return " ".join(_text(found.group(1)).split()) if found else ""


def screenshot(url: str, path: Path) -> str:
    """Open ``url`` in headless Chromium and save the whole page at ``path``; what happened."""
    reason = browser.missing()
    if reason is not None:
        return f"no screenshot: {reason}"
    with browser.chrome() as driver:
        driver.get(url)
        browser.screenshot(driver, path)
    return f"screenshot: {path}"


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()
