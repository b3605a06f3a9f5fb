"""Benchmarks for flask-schemaguard (not part of ``make test``; a smoke test runs them small).

- ``python -m bench.drift --sizes 50,200,1000 --db sqlite,postgresql,mysql``: full check, fast
  path, Alembic ``compare_metadata`` and SQLAlchemy's per-table Inspector on the same database.
- ``python -m bench.health``: the cached health endpoint under a real WSGI server and load.
"""
