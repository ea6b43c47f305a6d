"""infra/docker-compose.yml: every file a service reads is waited for (round 15, CLEAN18).

The pipeline reads the fleet metadata (``--metadata /shared/fleet.json``) that the simulator writes
(``--write-metadata``); nothing made it wait for the file: on a cold start the pipeline could start
first and stop on "no such file" (then restart, on-failure) or, with a file left in the volume by
an earlier run, read the old fleet. There is no Docker daemon on the dev machine: the file is
checked here as YAML against the compose rules it relies on, and with ``docker compose config``
where the compose plugin is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "infra" / "docker-compose.yml"
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def _services() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, Any] = doc["services"]
    return services


def _flag(service: dict[str, Any], flag: str) -> str | None:
    command = service.get("command") or []
    return command[command.index(flag) + 1] if flag in command else None


def _depends(service: dict[str, Any]) -> dict[str, str]:
    """``depends_on`` as {service: condition} (the short list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _mount(service: dict[str, Any], path: str) -> str | None:
    """The named volume (or host folder) a service sees ``path`` in."""
    for volume in service.get("volumes") or []:
        source, target = volume.split(":")[:2]
        if path.startswith(target.rstrip("/") + "/"):
            return str(source)
    return None


def test_every_dependency_names_a_service_and_a_condition_it_can_meet() -> None:
    services = _services()
    for name, service in services.items():
        for dep, condition in _depends(service).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert condition in CONDITIONS, f"{name} -> {dep}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} healthy: no healthcheck"


def test_the_pipeline_waits_for_the_metadata_file_the_simulator_writes() -> None:
    services = _services()
    pipeline = services["pipeline"]
    path = _flag(pipeline, "--metadata")
    assert path is not None
    writers = [n for n, s in services.items() if _flag(s, "--write-metadata") == path]
    assert writers == ["simulator"]
    writer = services["simulator"]
    assert _mount(writer, path) == _mount(pipeline, path) is not None  # the same volume
    assert _depends(pipeline).get("simulator") == "service_healthy"  # was: no dependency at all
    assert writer["healthcheck"]["test"] == ["CMD", "test", "-s", path]
    # healthy only once this run wrote the file: a file left by an earlier run is removed first
    entry = writer["entrypoint"]
    assert entry[:2] == ["sh", "-c"] and entry[2].startswith(f"rm -f {path} && exec twin ")


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,
                                        check=False).returncode != 0:
        pytest.skip("no `docker compose` here (the YAML rules above are checked instead)")
    res = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
