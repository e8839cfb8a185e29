"""The command line (`beta-monitor`, `python -m monitor`): it only parses, builds the adapters and calls the
library (sqlite-utils' `cli.py` over `db.py`). `parser` holds the grammar, `main` the exit codes, `commands` one
function per command, `wiring` the only place adapters are built, `output` what stdout shows, `demo` the tour."""

from monitor.cli.main import main

__all__ = ["main"]
