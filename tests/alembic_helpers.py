"""Running Alembic and Flask-Migrate commands inside the test process."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def alembic_isolated() -> Iterator[None]:
    """Run Alembic's env.py without its side effects on this process.

    env.py calls ``logging.config.fileConfig`` (which disables existing loggers, ours too, and
    replaces the root handlers, pytest's too), and Flask-Migrate's template calls the
    deprecated ``db.get_engine()``.
    """
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved = {
        name: (logger.disabled, logger.level, list(logger.handlers), logger.propagate)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'get_engine' is deprecated", DeprecationWarning)
            yield
    finally:
        for handler in root.handlers:
            if handler not in saved_root[1]:
                handler.close()
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, logger in logging.root.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                disabled, level, handlers, propagate = saved.get(name, (False, 0, [], True))
                logger.disabled, logger.propagate = disabled, propagate
                logger.setLevel(level)
                logger.handlers[:] = handlers
