"""``twin ...`` with a stand-in prescription step: every raised alert -> a derate recommendation.

Until the prescription step (issue 11, part PRESCRIBE) produces the recommendation stream, the
command path's integration test runs the real ``twin run`` through this wrapper (a subprocess on
the real broker); only the recommendation source is replaced, at the place
``flows.dataflow.pipeline`` names for it. Usage: ``python -m tests.integration.run_with_derates run ...``.
"""

from __future__ import annotations

import sys

from flows.cli.main import main
from flows.dataflow import pipeline
from tests.flows.test_command_path import derates

if __name__ == "__main__":
    pipeline.empty_recommendations = derates
    sys.exit(main(sys.argv[1:]))
