"""flows.cli: the ``twin`` command line (argument parsing, one-line errors, output formats).

- :mod:`.main` — the parser and :func:`flows.cli.main.main` (the ``twin`` entry point);
- :mod:`.args` — shared argument helpers (env fallbacks, checked values);
- :mod:`.kafka_commands` — ``twin topics|run|simulate|replay``;
- :mod:`.archive_commands` — ``twin sql``, ``twin explain`` and ``twin archive check|compact``;
- :mod:`.whatif_command` — ``twin whatif``; :mod:`.command_commands` — ``twin commands``;
- :mod:`.sql_output` — a query's rows as a table, CSV or JSON lines;
- :mod:`.stderr` — keeps engine panic text off the terminal.

Commands parse and check their arguments here, then call :mod:`flows.app`.
"""
