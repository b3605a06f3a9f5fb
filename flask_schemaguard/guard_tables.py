"""The guard's own tables (audit trail, state) must never be model tables."""

from __future__ import annotations

from .config import STATE_TABLE
from .errors import SchemaGuardError
from .state import GuardState


def refuse_model_table_names(state: GuardState) -> None:
    """The guard's own tables must not be model tables: that table would never be checked,
    and the guard would write its rows into it."""
    owned = {
        "SCHEMAGUARD_AUDIT_TABLE": state.config.audit_table,
        "the guard's state table (schemaguard_state)": STATE_TABLE,
    }
    for target in state.targets:
        names = {t.name.lower(): t for t in target.tables}
        for key, name in owned.items():
            table = names.get(name.lower()) if name else None
            if table is not None:
                where = "the default bind" if target.bind is None else f"bind {target.bind!r}"
                raise SchemaGuardError(
                    f"{key} = {name!r} is the name of a model table ({table.fullname!r} on "
                    f"{where}): choose another name for the guard's table, or rename the model's."
                )
