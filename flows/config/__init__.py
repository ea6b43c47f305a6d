"""flows.config: one frozen settings tree for every flow, from defaults < TOML < env < flags.

- :mod:`.pipeline` — :class:`PipelineConfig` and :func:`load_config`;
- :mod:`.tree` — the walker over the settings tree (unknown keys, typed and checked values);
- :mod:`.values` — one setting's value, parsed and checked against its declared spec.
"""
