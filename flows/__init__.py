"""flows: Bytewax glue and I/O for twinflow (sources, sinks, the one dataflow, the CLI).

Depends on twin_models, never the reverse. Nothing here builds a Dataflow at import time.
"""
