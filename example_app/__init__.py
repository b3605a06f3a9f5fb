"""A small multi-role chat and evaluation-run API that reproduces two real schema incidents.

Run it::

    flask --app example_app run                         # SQLite under instance/
    DATABASE_URL=postgresql://postgres@127.0.0.1/test flask --app example_app run

Settings come from ``create_app(config)``, then environment variables prefixed ``FLASK_``
(``FLASK_SCHEMAGUARD_MODE=check`` sets ``SCHEMAGUARD_MODE``), then ``DATABASE_URL``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.logging import default_handler
from flask_cors import CORS

from flask_schemaguard import SchemaGuard

from .models import db
from .views import api

guard = SchemaGuard()

#: The front end (a Vite dev server in the incidents) runs on another origin.
FRONTEND_ORIGINS = ["http://localhost:3000"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: SQLAlchemy, CORS for the front end, the API, and the schema guard."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(app.instance_path)
    app.config["FRONTEND_ORIGINS"] = FRONTEND_ORIGINS
    app.config.from_prefixed_env()
    if config:
        app.config.update(config)

    _log_schemaguard(app)
    db.init_app(app)
    CORS(app, origins=app.config["FRONTEND_ORIGINS"])
    app.register_blueprint(api)
    guard.init_app(app)  # after db.init_app: in heal mode this heals the schema now
    return app


def database_url(instance_path: str) -> str:
    """``DATABASE_URL`` (with the psycopg 3 / PyMySQL drivers), else SQLite under instance/."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        os.makedirs(instance_path, exist_ok=True)
        return "sqlite:///" + os.path.join(instance_path, "multi_role_chat.db")
    return with_driver(url)


def with_driver(url: str) -> str:
    """``postgresql://`` and ``mysql://`` URLs with the drivers this project installs."""
    for prefix, driver in (
        ("postgres://", "postgresql+psycopg://"),
        ("postgresql://", "postgresql+psycopg://"),
        ("mysql://", "mysql+pymysql://"),
        ("mariadb://", "mysql+pymysql://"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    return url


def _log_schemaguard(app: Flask) -> None:
    """Show the guard's INFO lines (what it healed) on stderr, like Flask's own log.

    Not under ``TESTING``: the handler would be global to the test process.
    """
    if app.testing:
        return
    logger = logging.getLogger("flask_schemaguard")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if default_handler not in logger.handlers:
        logger.addHandler(default_handler)


__all__ = ["create_app", "db", "guard"]
