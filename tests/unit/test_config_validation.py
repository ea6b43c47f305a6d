"""Every setting has a declared type and range, checked at load with a one-line error.

The first two tests enumerate the whole settings tree, so a setting added later without a Spec,
or with a Spec the loader does not enforce, fails here.
"""

from __future__ import annotations

import math
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest

from flows.config.pipeline import ConfigError, PipelineConfig, load_config
from flows.config.tree import iter_settings
from twin_models.settings import SPEC_KEY, Spec

SETTINGS = list(iter_settings(PipelineConfig))
NAMES = [name for name, *_ in SETTINGS]
ROOT = Path(__file__).resolve().parents[2]


def _spec(name: str) -> tuple[Spec, Any]:
    for n, f, hint, _ in SETTINGS:
        if n == name:
            return f.metadata[SPEC_KEY], hint
    raise KeyError(name)


def _bad_values(spec: Spec, hint: Any) -> list[Any]:
    """Values the declared type and Spec must refuse."""
    origin = typing.get_origin(hint)
    if hint is bool:
        return ["maybe", 2, 1.5]
    if hint in (int, float):
        assert spec.range is not None
        bad = [True, "many", math.nan, spec.range.outside()]
        return [*bad, 2.5] if hint is int else bad
    if hint is str:
        if spec.choices:
            return ["no-such-choice", 3]
        assert spec.pattern is not None
        return ["" if not re.fullmatch(spec.pattern, "") else " bad/name ", 3]
    if origin is tuple:
        args = typing.get_args(hint)
        if typing.get_origin(args[0]) is tuple:
            return [[[0, 0]], [[1]], 5]
        return [[""], [spec.range.outside() if spec.range else 3]]
    if origin is dict:
        return [{"x": [1]}, "text"]
    msg = f"no bad values for {hint!r}"
    raise AssertionError(msg)


def test_every_setting_declares_a_type_and_a_range() -> None:
    assert len(SETTINGS) > 60
    for name, f, hint, _ in SETTINGS:
        spec = f.metadata.get(SPEC_KEY)
        assert isinstance(spec, Spec), f"{name} has no Spec: declare it with twin_models.settings.setting"
        if hint in (int, float):
            assert spec.range is not None, f"{name}: a number needs a range"
            assert math.isfinite(spec.range.lo), name
        elif hint is str:
            assert spec.choices or spec.pattern, f"{name}: a string needs choices or a pattern"
        elif typing.get_origin(hint) is tuple:
            assert spec.pattern or spec.range, f"{name}: a list needs a pattern or a range per item"
            assert spec.max_items is not None, f"{name}: a list needs max_items"
        elif typing.get_origin(hint) is dict:
            assert spec.passthrough, name
        else:
            assert hint is bool, f"{name}: unsupported type {hint!r}"


@pytest.mark.parametrize("name", NAMES)
def test_every_setting_accepts_its_default_and_refuses_bad_values(name: str) -> None:
    spec, hint = _spec(name)
    default = PipelineConfig()
    for part in name.split("."):
        default = getattr(default, part)
    cfg = load_config(env={}, overrides={name: default})
    got = cfg
    for part in name.split("."):
        got = getattr(got, part)
    assert got == default
    for bad in _bad_values(spec, hint):
        with pytest.raises(ConfigError, match=re.escape(f"config {name}")):
            load_config(env={}, overrides={name: bad})


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> PipelineConfig:
    f = tmp_path / "c.toml"
    f.write_text(text)
    return load_config(f, env=env or {})


@pytest.mark.parametrize("text, needle", [
    ("[pipeline]\nwindow_s = inf\n", "config window_s must be >= 0.001 and <= 3.1536e+07 seconds, got inf"),
    ("[pipeline]\nwindow_s = nan\n", "config window_s must be >= 0.001 and <= 3.1536e+07 seconds, got nan"),
    ("[pipeline]\nwindow_s = 1e15\n", "got 1000000000000000.0"),
    ("[pipeline]\nwindow_s = true\n", "config window_s: cannot use True (expected a number)"),
    ("[pipeline]\nmax_future_s = nan\n", "config max_future_s must be >= 0"),
    ("[pipeline.twin]\ncalibrator_window = 0\n", "config twin.calibrator_window must be >= 30"),
    ("[pipeline.twin.novelty]\nscales = [[0, 0]]\n", "config twin.novelty.scales must be >= 1"),
    ("[pipeline.twin.novelty]\nscales = [[8, 3]]\n", "8 is not a multiple of its segments 3"),
    ("[pipeline.twin.novelty]\nscales = [[8]]\n", "expected a list of 2 values"),
    ("[pipeline.twin.novelty]\necho = 'maybe'\n",
     "config twin.novelty.echo: cannot use 'maybe' (expected true or false"),
    ("[pipeline.twin.novelty]\nhold = -1\n", "config twin.novelty.hold must be >= 0"),
    ("[pipeline.twin.novelty]\nperiod_fractions = [0.5, 0]\n",
     "config twin.novelty.period_fractions must be > 0 and <= 100"),
    ("[pipeline.twin.novelty]\ndefault_period = 0\n", "config twin.novelty.default_period must be >= 1"),
    ("[pipeline.twin]\nwarmup_windows = -5\n", "config twin.warmup_windows must be >= 1"),
    ("[pipeline.twin]\nwarmup_windows = 2.5\n", "twin.warmup_windows: cannot use 2.5 (expected a whole"),
    ("[pipeline.alerts]\nraise_score = nan\n", "config alerts.raise_score must be >= 0 and <= 1, got nan"),
    ("[pipeline.alerts]\nraise_on_defect = 1\n", "expected true or false"),
    ("[pipeline.twin.fleet]\ncoverage = 1.0\n", "config twin.fleet.coverage must be > 0 and < 1"),
    ("[pipeline.kafka]\ntopic_prefix = 'a b'\n", "config kafka.topic_prefix: 'a b' is not a valid name"),
    ("[pipelin.twin]\nwarmup_windows = 3\n", "unknown config key 'pipelin' (did you mean 'pipeline'?)"),
    ("[pipeline]\nwindow_s = 60\n[pipelin.twin]\nwarmup_windows = 3\n",
     "unknown config table [pipelin] in"),
    ("[pipeline]\nwindow_s = 60\n[alerts]\nraise_score = 0.5\n", "unknown config table [alerts]"),
    ("[pipeline.twin]\nwarmup = 3\n", "unknown config key 'twin.warmup' (did you mean 'warmup_windows'?)"),
    ("[pipeline.kafka.librdkafka]\n'sasl.password' = ['hunter2']\n", "sasl.password: cannot use '***'"),
])
def test_bad_settings_are_refused_with_key_value_and_what_is_allowed(
        tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, text)
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    assert "hunter2" not in str(exc.value)


def test_whole_floats_are_ints_and_benchmark_tables_are_allowed(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "[benchmark]\nframe_s = 1.0\n[pipeline.twin]\nwarmup_windows = 3.0\n")
    assert cfg.twin.warmup_windows == 3 and isinstance(cfg.twin.warmup_windows, int)
    cfg = _load(tmp_path,
                "[pipeline.twin]\ndefect_min_snr = inf\n[pipeline.twin.novelty]\nscales = [[8, 4]]\n")
    assert math.isinf(cfg.twin.defect_min_snr) and cfg.twin.novelty.scales == ((8, 4),)
    assert not cfg.twin.novelty.echo
    assert _load(tmp_path, "[pipeline.twin.novelty]\necho = true\n").twin.novelty.echo is True
    assert cfg.twin.novelty.hold == 0
    assert _load(tmp_path, "[pipeline.twin.novelty]\nhold = 8\n").twin.novelty.hold == 8


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks/quality/configs").glob("*.toml")),
                         ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    """Every setting a shipped [pipeline] table writes is the value the loaded config holds."""
    table = tomllib.loads(path.read_text())["pipeline"]
    assert table, path
    assert _differences(load_config(path, env={}), table, "pipeline.") == []


def _differences(obj: Any, table: dict[str, Any], where: str) -> list[str]:
    """Keys of a TOML table whose value the config object does not hold (lists as tuples)."""
    def norm(v: Any) -> Any:
        return tuple(map(norm, v)) if isinstance(v, list | tuple) else v

    out = []
    for key, value in table.items():
        got = getattr(obj, key, KeyError)
        if isinstance(value, dict) and got is not KeyError:
            out += _differences(got, value, f"{where}{key}.")
        elif norm(got) != norm(value):
            out.append(f"{where}{key}: file {value!r}, config {got!r}")
    return out


@pytest.mark.parametrize("env, needle", [
    ({"TWIN_ALERTS__RAISE_ON_DEFECT": "maybe"}, "config alerts.raise_on_defect: cannot use 'maybe'"),
    ({"TWIN_WINDOW_S": "true"}, "config window_s: cannot use 'true' (expected a number)"),
    ({"TWIN_TWIN__WARMUP_WINDOWS": "2.5"}, "config twin.warmup_windows: cannot use 2.5"),
    ({"TWIN_WINDOWS_S": "60"}, "TWIN_WINDOWS_S is not a setting (did you mean TWIN_WINDOW_S?)"),
    ({"TWIN_TWIN__WARMUP": "3"}, "TWIN_TWIN__WARMUP is not a setting: no 'warmup' in table 'twin' "
                                 "(did you mean 'warmup_windows'?)"),
    ({"TWIN_PIPELIN__WINDOW_S": "3"}, "TWIN_PIPELIN__WINDOW_S is not a setting: no 'pipelin'"),
])
def test_bad_environment_settings(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(env=env)
    assert needle in str(exc.value)


def test_environment_bools_and_names_that_are_not_settings() -> None:
    for text, want in [("off", False), ("NO", False), ("1", True), ("on", True)]:
        assert load_config(env={"TWIN_ALERTS__RAISE_ON_DEFECT": text}).alerts.raise_on_defect is want
    # not settings and not near one: the tools' own variables and unrelated names are left alone
    cfg = load_config(env={"TWIN_KAFKA_BROKERS": "x:1", "TWIN_DEBUG": "1", "TWIN_SOMETHING_ELSE": "1"})
    assert cfg.kafka.brokers == "localhost:19092"
    cfg = load_config(env={"TWIN_TWIN__NOVELTY__SCALES": "[[8, 8], [16, 4]]", "TWIN_METRICS__WATCH": "a,b"})
    assert cfg.twin.novelty.scales == ((8, 8), (16, 4)) and cfg.metrics.watch == ("a", "b")


@pytest.mark.parametrize(("text", "needle"), [
    ("[pipeline.alerts]\nraise_score = 0.8\n",
     "alerts.clear_score 0.9 must not be above alerts.raise_score 0.8"),
    ("[pipeline.alerts]\nclear_score = 0.9995\n",
     "alerts.clear_score 0.9995 must not be above alerts.raise_score 0.999"),
    ("[pipeline.twin]\ncritical_health = 0.95\n",
     "twin.critical_health 0.95 must not be above twin.degrading_health 0.9"),
])
def test_thresholds_out_of_order_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    """Round 24 (found by HOSTILE24): a clear_score above raise_score made an episode raise and
    clear on the same window, a critical_health above degrading_health a health both critical and
    not degrading; both were accepted."""
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, text)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_thresholds_moved_together_in_any_layer_are_accepted(tmp_path: Path) -> None:
    """Lowering raise_score with clear_score below it is fine, in a file or in TWIN_* variables
    (applied as one layer, so their order among the variables does not matter)."""
    cfg = _load(tmp_path, "[pipeline.alerts]\nraise_score = 0.8\nclear_score = 0.7\n"
                          "[pipeline.twin]\ncritical_health = 0.1\ndegrading_health = 0.2\n")
    assert (cfg.alerts.raise_score, cfg.alerts.clear_score) == (0.8, 0.7)
    assert (cfg.twin.critical_health, cfg.twin.degrading_health) == (0.1, 0.2)
    env = {"TWIN_ALERTS__RAISE_SCORE": "0.8", "TWIN_ALERTS__CLEAR_SCORE": "0.7"}
    cfg = load_config(env=env)
    assert (cfg.alerts.raise_score, cfg.alerts.clear_score) == (0.8, 0.7)
