"""Database URLs as they may be shown: password masked, SQLite paths absolute."""

from __future__ import annotations

import os

from sqlalchemy.engine import URL, Engine


def display_url(url_or_engine: URL | Engine) -> str:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else url_or_engine
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return f"sqlite:///{database or ':memory:'}"
        return "sqlite:///" + os.path.abspath(database)
    return url.render_as_string(hide_password=True)
