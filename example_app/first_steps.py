"""The README's first usage example: ``guard.check()``, ``guard.plan()``, ``guard.heal()``.

Run it with ``python -m example_app.first_steps``: it works on a temporary copy of the old
database, so it changes nothing of yours.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from example_app import create_app, db, guard
from example_app.old_schema import create_old_database


def main() -> None:
    logging.getLogger("flask_schemaguard").setLevel(logging.ERROR)  # we print what matters
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'old.db'}"
        create_old_database(url)  # as it was before StepExecutionLog and Run.chat_session_id

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SCHEMAGUARD_RUN_ON": "manual"})
        with app.app_context():
            report = guard.check()  # read-only
            print("in sync:", report.in_sync)
            for item in report.items:
                print(f"  {item.severity}: {item.detail}")

            plan = guard.plan()  # read-only: the DDL a heal would run, in order
            print(f"plan: {len(plan)} operations, the first one:")
            print("  " + plan[0].sql.splitlines()[0])

            result = guard.heal()  # under a lock; refreshes the ORM afterwards
            print(f"healed: {len(result.applied)} applied, {len(result.failed)} failed")
            print("in sync:", result.after.in_sync)
            db.engine.dispose()


if __name__ == "__main__":
    main()
