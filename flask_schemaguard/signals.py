"""Blinker signals, sent with the app as sender (like Flask's own signals).

- ``drift_detected``: a check found drift; ``report=`` the :class:`DriftReport`.
- ``schema_healed``: a heal applied operations; ``result=`` the :class:`HealResult`.
- ``heal_failed``: operations failed or the heal could not run; ``result=`` (may be None)
  and ``error=`` (a message, may be None).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

drift_detected = _signals.signal("schemaguard.drift-detected")
schema_healed = _signals.signal("schemaguard.schema-healed")
heal_failed = _signals.signal("schemaguard.heal-failed")
