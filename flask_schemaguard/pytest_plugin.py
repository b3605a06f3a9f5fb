"""pytest plugin (entry point ``pytest11``): opt-in ``schemaguard_report`` fixture."""
