"""Make the README's screenshots of the pages for people: ``docs/drift-page.png`` and
``docs/health-page.png``, from the example app on an old SQLite database in debug mode.

    .venv/bin/python docs/make_screenshots.py

Needs Chromium and chromedriver (``apt-get install chromium chromium-driver``) and Selenium.
The browser's PNGs are reduced to 256 colours (the most frequent ones; text on a plain page
hardly has more) so the files stay small.
"""

from __future__ import annotations

import struct
import sys
import tempfile
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from example_app import browser, create_app  # noqa: E402
from example_app.old_schema import create_old_database  # noqa: E402

WIDTH = 1100


def main() -> int:
    reason = browser.missing()
    if reason is not None:
        print(f"cannot make the screenshots: {reason}", file=sys.stderr)
        return 1
    from selenium.webdriver.support.expected_conditions import title_contains
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/multi_role_chat.db"
        create_old_database(url)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SCHEMAGUARD_MODE": "check"})
        app.debug = True
        with browser.serve(app) as base, browser.chrome(width=WIDTH, height=900) as driver:
            driver.get(base + "/sessions/1")
            shot(driver, Path(tmp) / "drift.png", ROOT / "docs" / "drift-page.png")
            driver.find_element("xpath", "//button[normalize-space()='Heal now']").click()
            WebDriverWait(driver, 60).until(title_contains("Should we adopt"))  # the working page
            driver.get(base + "/healthz/schema")
            shot(driver, Path(tmp) / "health.png", ROOT / "docs" / "health-page.png")
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()
    return 0


def shot(driver: object, raw: Path, out: Path) -> None:
    browser.screenshot(driver, raw)
    out.write_bytes(quantize(raw.read_bytes()))
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size // 1024} KiB")


def quantize(png: bytes) -> bytes:
    """An 8-bit RGB PNG as a 256-colour indexed PNG (nearest of the most frequent colours)."""
    chunks = _chunks(png)
    width, height, depth, kind = struct.unpack(">IIBB", chunks[0][1][:10])
    if (depth, kind) != (8, 2):
        return png
    pixels = _unfilter(zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT")), width, 3)
    colours = Counter(pixels[i : i + 3] for i in range(0, len(pixels), 3))
    palette = [c for c, _ in colours.most_common(256)]
    nearest = {c: _nearest(c, palette) for c in colours}
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        line = pixels[y * width * 3 : (y + 1) * width * 3]
        rows.extend(nearest[line[i : i + 3]] for i in range(0, len(line), 3))
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", b"".join(palette))
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(png):
        (size,) = struct.unpack(">I", png[pos : pos + 4])
        out.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + size]))
        pos += 12 + size
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _unfilter(raw: bytes, width: int, bpp: int) -> bytes:
    stride = width * bpp
    prev = bytearray(stride)
    out = bytearray()
    pos = 0
    while pos < len(raw):
        kind, line = raw[pos], bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return bytes(out)


def _nearest(colour: bytes, palette: list[bytes]) -> int:
    def distance(i: int) -> int:
        return sum((p - q) ** 2 for p, q in zip(palette[i], colour, strict=True))

    return min(range(len(palette)), key=distance)


if __name__ == "__main__":
    sys.exit(main())
