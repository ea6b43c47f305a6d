"""``python -m flows.cli ...`` runs the ``twin`` command (as it did before the package layout)."""

import sys

from flows.cli.entry import run

if __name__ == "__main__":
    sys.exit(run())
