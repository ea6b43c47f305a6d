"""README's lists of names equal the code's, so a name dropped or added on one side fails here.

- the CLI reference table: each command's row names every flag of its parser, and no other;
- every ``TWIN_*`` variable a flag falls back to (or that the code reads itself) is in README;
- the metrics table names exactly the metric families of :class:`PipelineMetrics`;
- the ``twin_dead_letters_total`` row lists exactly the reasons the registry starts at 0, and every
  reason the code writes literally into a dead letter or its counter is one of them;
- every metric a Grafana panel, an alert rule or a rule test queries is one the registry exposes
  (a panel querying a metric that no longer exists is a silent blank panel), and every label a
  panel, legend, rule or rule annotation selects, groups by or prints is one its metrics have;
- README's Layout names every module of `flows` and `twin_models` in its package's entry, and
  no module that is not there;
- every `make X` README or CONTRIBUTING shows is a Makefile target; README's topics table names
  exactly the configured topics (and existing schema files); every ``[pipeline...]`` TOML example
  loads; README names exactly the alert rules of ``rules.yml`` and the dashboards by their titles;
  a default README states beside a setting's name is the code's; every dotted ``twin_models.``/
  ``flows.`` name the docs give resolves, and every dotted setting name is a whole path; the
  "Bad input" paragraph lists exactly the codec's and the admission rules' reasons.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from flows.app.heap import GC_ENV
from flows.cli.main import build_parser
from flows.config import tree
from flows.config.pipeline import PipelineConfig
from flows.config.values import ConfigError
from flows.dataflow.metrics import PipelineMetrics
from tests.contract.cli_parsers import every_parser, is_group

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FLAG = re.compile(r"(?<![\w-])--?[a-z][a-z0-9-]*")
ENV = re.compile(r"TWIN_[A-Z0-9_]*[A-Z0-9]")


COMMANDS = {path: sub for path, sub in every_parser(build_parser()) if not is_group(sub)}


def _cli_row(path: tuple[str, ...]) -> str:
    """The command cell of README's CLI table row for ``twin <path>``."""
    head = "| `twin " + " ".join(path)
    rows = [line for line in README.splitlines() if line.startswith(head) and line[len(head)] in " `\\"]
    assert len(rows) == 1, f"README's CLI table has {len(rows)} rows for `twin {' '.join(path)}`"
    return rows[0].split("` |", 1)[0]


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_cli_table_row_names_every_flag_of_its_command(path: tuple[str, ...]) -> None:
    documented = set(FLAG.findall(_cli_row(path)))
    options = [[o for o in a.option_strings if o not in ("-h", "--help")] for a in COMMANDS[path]._actions]
    options = [o for o in options if o]
    missing = ["/".join(o) for o in options if not documented & set(o)]
    unknown = documented - {o for opts in options for o in opts}
    assert not missing, f"`twin {' '.join(path)} --help` has flags README's table row lacks: {missing}"
    assert not unknown, f"README's row for `twin {' '.join(path)}` names flags it does not have: {unknown}"


def _help_env_names() -> set[str]:
    return {v for parser in COMMANDS.values() for a in parser._actions for v in ENV.findall(a.help or "")}


def test_every_twin_variable_the_code_reads_is_in_the_readme() -> None:
    """The flags' fallbacks (registered when the parser is built), the names that are no setting,
    TWIN_GC, and each variable a flag's --help names."""
    read = {f"TWIN_{name}" for name in tree.RESERVED_ENV} | {GC_ENV} | _help_env_names()
    assert "TWIN_ASSETS" in read and "TWIN_SQL_TIMEOUT" in read  # the parser registered its fallbacks
    missing = sorted(read - set(ENV.findall(README)))
    assert not missing, f"TWIN_* variables the code reads that README never names: {missing}"


README_REFUSED_EXAMPLES = {"TWIN_WINDOWS_S"}
"""Names README shows being refused (a near miss of a setting)."""


def test_every_twin_variable_readme_names_is_one_the_code_knows() -> None:
    """A renamed setting or flag fallback leaves no stale ``TWIN_*`` name in README."""
    build_parser()  # registers the flags' fallbacks
    top = {f.name for f in fields(PipelineConfig)}
    stale = []
    for name in sorted(set(ENV.findall(README)) - README_REFUSED_EXAMPLES - {GC_ENV}):
        key = name.removeprefix("TWIN_")
        if key in tree.RESERVED_ENV:
            continue
        try:
            tree.check_env_names(PipelineConfig, {name: "1"})
        except ConfigError:
            stale.append(name)
            continue
        if key.lower().split("__")[0] not in top:
            stale.append(name)
    assert not stale, f"README names TWIN_* variables that are no setting or flag fallback: {stale}"
    with pytest.raises(ConfigError):  # the refused example still is refused
        tree.check_env_names(PipelineConfig, dict.fromkeys(README_REFUSED_EXAMPLES, "1"))


def _families() -> dict[str, str]:
    return {f.name: f.type for f in PipelineMetrics(CollectorRegistry()).registry.collect()}


def _samples(name: str, kind: str) -> set[str]:
    """The names a query can use for a family (prometheus_client's exposition)."""
    if kind == "counter":
        return {f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return {name}


def _metric_rows() -> dict[str, str]:
    """First cell's metric names -> the row, from README's table under ``| metric | type | what |``."""
    lines = README.split("| metric | type | what |", 1)[1].splitlines()[2:]
    rows: dict[str, str] = {}
    for line in lines:
        if not line.startswith("| `twin_"):
            break
        for name in re.findall(r"`(twin_[a-z_]+)", line.split(" | ", 1)[0]):
            rows[name] = line
    return rows


def test_readme_metrics_table_names_exactly_the_registered_metrics() -> None:
    documented = set(_metric_rows())
    registered = {f"{name}_total" if kind == "counter" else name for name, kind in _families().items()}
    lacking, extra = sorted(registered - documented), sorted(documented - registered)
    assert not lacking, f"metrics README's table lacks: {lacking}"
    assert not extra, f"README's table names metrics the code does not register: {extra}"


def _registry_reasons() -> set[str]:
    metrics = PipelineMetrics(CollectorRegistry())
    fam = next(f for f in metrics.registry.collect() if f.name == "twin_dead_letters")
    return {s.labels["reason"] for s in fam.samples if s.name == "twin_dead_letters_total"}


def test_readme_dead_letter_reasons_equal_the_codes() -> None:
    row = _metric_rows()["twin_dead_letters_total"]
    documented = set(re.findall(r"`([a-z][a-z_]+)`", row.split(" | ")[2]))
    assert documented == _registry_reasons(), (
        f"README lacks {sorted(_registry_reasons() - documented)}, "
        f"names no reason {sorted(documented - _registry_reasons())}")


def _str_value(node: ast.expr | None, consts: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    return None


def _literal_reasons(path: Path) -> set[str]:
    """Reasons written literally in one module: the first argument of DeadLetter / fail / Reject /
    DecodeError, a ``reason=`` label or keyword, a ``reason`` parameter's default, and (admission)
    the first item of a returned ``(reason, detail)``; a module-level name resolves to its text."""
    mod = ast.parse(path.read_text(encoding="utf-8"))
    consts = {t.id: n.value.value for n in mod.body if isinstance(n, ast.Assign)
              and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
              for t in n.targets if isinstance(t, ast.Name)}
    found: set[str | None] = set()
    for node in ast.walk(mod):
        if isinstance(node, ast.Call):
            fn = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if fn in ("DeadLetter", "fail", "Reject", "DecodeError") and node.args:
                found.add(_str_value(node.args[0], consts))
            found |= {_str_value(k.value, consts) for k in node.keywords if k.arg == "reason"}
        elif isinstance(node, ast.FunctionDef):
            args = node.args.args[len(node.args.args) - len(node.args.defaults):]
            found |= {_str_value(d, consts) for a, d in zip(args, node.args.defaults, strict=True)
                      if a.arg == "reason"}
        elif (path.name == "admission.py" and isinstance(node, ast.Return)
              and isinstance(node.value, ast.Tuple) and len(node.value.elts) == 2):
            found.add(_str_value(node.value.elts[0], consts))
    return {r for r in found if r}


def test_every_reason_the_code_writes_is_counted_from_the_start() -> None:
    written = {r: p for p in sorted((ROOT / "flows").rglob("*.py")) for r in _literal_reasons(p)}
    assert {"late_record", "duplicate_record", "clock_skew", "clock_unconfirmed", "processing_error",
            "frame_too_short", "schema_violation"} <= set(written)  # the scan sees each kind of site
    unknown = {r: str(p.relative_to(ROOT)) for r, p in written.items() if r not in _registry_reasons()}
    assert not unknown, f"reasons the code writes that the registry does not start at 0: {unknown}"


def _queried_metrics() -> Iterator[tuple[str, str]]:
    """(where, metric name) for each metric a dashboard panel or variable, or a rule, queries."""
    for board in sorted((ROOT / "infra" / "grafana" / "dashboards").glob("*.json")):
        doc = json.loads(board.read_text(encoding="utf-8"))
        exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
        exprs += [v["query"]["query"] for v in doc["templating"]["list"]]
        for expr in exprs:
            for name in re.findall(r"\btwin_[a-z_]+", expr):
                yield board.name, name
    rules = yaml.safe_load((ROOT / "infra" / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in re.findall(r"\btwin_[a-z_]+", rule["expr"]):
                yield f"rules.yml {rule.get('alert') or rule.get('record')}", name


def test_dashboards_and_rules_query_only_registered_metrics() -> None:
    exposed = {s for name, kind in _families().items() for s in _samples(name, kind)}
    queried = list(_queried_metrics())
    assert len({w for w, _ in queried}) >= 4  # three dashboards and the rules were read
    gone = sorted({(where, name) for where, name in queried if name not in exposed})
    assert not gone, f"panels or rules querying metrics the code does not register: {gone}"


NO_PANEL = {
    "twin_arrival_check": "a state per partition, said in a log line and twin run's end line",
    "twin_command_audit_total": "commands are off by default; README says what to alert on",
    "twin_damage_indicator_windows_total": "a calibration figure, read over a run, not watched",
    "twin_damage_states_total": "a calibration figure, read over a run, not watched",
    "twin_drift_detections_total": "twin outputs: the asset panels show the state they move",
    "twin_event_time_gate_waits_total": "waits are normal; the fleet panel shows the give-ups",
    "twin_recommendations_total": "the archive's recommendations table says which and why",
    "twin_rul_seconds": "the fleet and asset panels plot the RUL per asset",
    "twin_sink_batch_size": "a tuning figure beside the sink write time panel",
    "twin_snapshot_flush_seconds": "a tuning figure of --snapshot-interval",
    "twin_windows_closed_total": "the items-out-per-step panel counts the windows aggregated",
}
"""Registered metric families on no dashboard panel nor rule, each with why (a metric added since is
either shown or named here: round 34 found the fleet-model and unread-input counters on no panel)."""


def test_every_metric_is_on_a_panel_or_rule_or_named_as_not_watched() -> None:
    queried = {name for _, name in _queried_metrics()}
    unwatched = sorted(name for name, kind in _families().items()
                       if not _samples(name, kind) & queried and not {name, f"{name}_total"} & set(NO_PANEL))
    assert not unwatched, f"metrics on no panel nor rule (add one, or say why in NO_PANEL): {unwatched}"
    families = _families().items()
    stale = sorted(n for n in NO_PANEL if not any(n in _samples(f, k) or f == n for f, k in families))
    assert not stale, f"NO_PANEL names metrics the code does not register: {stale}"
    shown = sorted(n for n in NO_PANEL if n in queried or f"{n}_bucket" in queried)
    assert not shown, f"NO_PANEL names metrics a panel or rule queries: {shown}"


def _family_labels() -> dict[str, set[str]]:
    """Each exposed sample name -> its labels (``le`` for a histogram's buckets)."""
    out: dict[str, set[str]] = {}
    for c in set(PipelineMetrics(CollectorRegistry()).registry._names_to_collectors.values()):
        for fam in c.describe():
            labels = set(getattr(c, "_labelnames", ()))
            for name in _samples(fam.name, fam.type):
                out[name] = labels | ({"le"} if name.endswith("_bucket") else set())
    return out


SCRAPE_LABELS = {"instance", "job"}
"""Labels Prometheus adds to every scraped series."""


def _queries() -> Iterator[tuple[str, str, str]]:
    """(where, PromQL, legend) of every dashboard target and rule, with the rule's annotations
    standing in for a legend."""
    for board in sorted((ROOT / "infra" / "grafana" / "dashboards").glob("*.json")):
        doc = json.loads(board.read_text(encoding="utf-8"))
        for p in doc["panels"]:
            for t in p["targets"]:
                yield f"{board.name} {p['title']!r}", t["expr"], t.get("legendFormat", "")
    rules = yaml.safe_load((ROOT / "infra" / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield f"rules.yml {rule.get('alert')}", rule["expr"], json.dumps(rule.get("annotations", {}))


def test_dashboards_and_rules_use_only_labels_their_metrics_have() -> None:
    """A label renamed in the code (or misspelt in a panel) leaves a selector matching nothing, a
    `by` that merges every series into one, or a legend printing the empty string: no error
    anywhere, a wrong panel. Every label a query selects, groups by or a legend/annotation prints
    is one a metric of that query has."""
    labels = _family_labels()
    wrong = []
    for where, expr, legend in _queries():
        metrics = set(re.findall(r"\btwin_[a-z_]+", expr))
        has = set().union(*(labels[m] for m in metrics)) | SCRAPE_LABELS
        used = set(re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"", expr))
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            used |= {g.strip() for g in group.split(",") if g.strip()}
        used |= set(re.findall(r"\{\{\s*([a-z_]+)\s*\}\}", legend))
        used |= set(re.findall(r"\$labels\.([a-z_]+)", legend))
        wrong += [(where, name) for name in sorted(used - has)]
    assert len(list(_queries())) > 25  # every panel target and rule was read
    assert not wrong, f"labels no metric of the query has: {wrong}"


def _layout_mentions() -> set[tuple[str, str | None, str]]:
    """(top folder, first subfolder or None, module file) of each ``*.py`` README's Layout block
    names, attributed to the entry it is written under (``flows/`` ``cli/`` ...): a name that
    holds a ``/`` (``codec/fast_scalar.py``) is taken from the top folder."""
    block = README.split("## Layout", 1)[1].split("```", 2)[1]
    top: str | None = None
    sub: str | None = None
    seen: set[tuple[str, str | None, str]] = set()
    for line in block.splitlines():
        entry = line.lstrip(" ")
        name = entry.split(" ", 1)[0]
        indent = len(line) - len(entry)
        if indent == 0 and name:
            top, sub = name, None
        elif indent == 2 and name:
            sub = name if name.endswith("/") else None
        for token in re.findall(r"[\w/]+\.py\b", line):
            if top is None:
                continue
            *folders, module = token.split("/")
            seen.add((top, f"{folders[0]}/", module) if folders else (top, sub, module))
    return seen


def test_readme_layout_names_every_module_where_it_is() -> None:
    """A module added without a word in README's Layout, or one named there that moved or was
    removed (round 41 found 34 modules, a whole package among them, on no line of it)."""
    seen = _layout_mentions()
    modules = {(p.parts[0] + "/", p.parts[1] + "/" if len(p.parts) > 2 else None, p.name): p
               for pkg in ("flows", "twin_models") for p in
               (f.relative_to(ROOT) for f in (ROOT / pkg).rglob("*.py")) if not p.name.startswith("__")}
    assert len(modules) > 200 and len(seen) > 200  # the block and the packages were read
    missing = sorted(str(p) for key, p in modules.items() if key not in seen)
    assert not missing, f"modules README's Layout does not name in their package's entry: {missing}"
    named = {(top, sub, m) for top, sub, m in seen if top in ("flows/", "twin_models/")}
    found = {(t, s, m) for t, s, m in named
             if any(ROOT.joinpath(t, s or "").rglob(m)) and (s or (ROOT / t / m).exists())}
    stale = sorted("".join(filter(None, k)) for k in named - found)
    assert not stale, f"README's Layout names modules that are not there: {stale}"


# --- round 46 (DOCS46): more of README's names against the code's

DOCS = {name: (ROOT / name).read_text(encoding="utf-8")
        for name in ("README.md", "CONTRIBUTING.md", "schemas/README.md")}  # schemas: round 49


def _code_of(text: str) -> list[str]:
    """The fenced blocks and inline code spans of a Markdown text (what a reader copies)."""
    blocks = re.findall(r"```[\w-]*\n(.*?)```", text, re.S)
    prose = re.sub(r"```[\w-]*\n.*?```", "", text, flags=re.S)
    return blocks + re.findall(r"`([^`\n]+)`", prose)


def _make_targets() -> set[str]:
    text = "\n".join((ROOT / f).read_text(encoding="utf-8") for f in ("Makefile", "infra/kafka/Makefile.inc"))
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, re.M))


def test_every_make_target_the_docs_name_exists() -> None:
    """A `make X` in README's or CONTRIBUTING's code (a block or an inline span) is a target of the
    Makefile or of the Kafka helpers it includes."""
    named = {(doc, t) for doc, text in DOCS.items() for code in _code_of(text)
             for t in re.findall(r"(?<![\w-])make ([a-z][a-z0-9-]*)", code)}
    assert {"demo", "test", "bench", "kafka-start", "lock"} <= {t for _, t in named}  # the scan sees them
    missing = sorted((doc, t) for doc, t in named if t not in _make_targets())
    assert not missing, f"`make` targets the docs name that the Makefile lacks: {missing}"


def _topic_rows() -> dict[str, str]:
    """Topic name -> its row, from README's table under ``| role | topic | key | notes |``."""
    lines = README.split("| role | topic | key | notes |", 1)[1].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith("| "):
            break
        rows[line.split(" | ")[1].strip("`")] = line
    return rows


def test_readme_topic_table_names_exactly_the_configured_topics() -> None:
    """The topics table lists every default topic name of ``kafka.topics`` and no other, and each
    schema a row names is a file of ``schemas/``."""
    from flows.config.pipeline import TopicNames

    rows = _topic_rows()
    configured = {getattr(TopicNames(), f.name) for f in fields(TopicNames)}
    assert set(rows) == configured, (f"README lacks {sorted(configured - set(rows))}, "
                                     f"names no topic {sorted(set(rows) - configured)}")
    schemas = {s for row in rows.values() for s in re.findall(r"schemas/[\w.]+\.(?:json|md)", row)}
    assert len(schemas) >= 8 and not [s for s in schemas if not (ROOT / s).is_file()]


def test_every_pipeline_toml_example_loads(tmp_path: Path) -> None:
    """Each ```toml block of README that is settings (opens with a ``[pipeline...]`` table) loads
    as a config file: a setting renamed or a value refused leaves no example that fails for
    whoever copies it."""
    from flows.config.pipeline import load_config

    blocks = [b for b in re.findall(r"```toml\n(.*?)```", README, re.S) if b.lstrip().startswith("[pipeline")]
    assert len(blocks) >= 5
    path = tmp_path / "twin.toml"
    for block in blocks:
        path.write_text(block, encoding="utf-8")
        try:
            load_config(path, env={})
        except ConfigError as exc:
            pytest.fail(f"README's settings example is refused ({exc}):\n{block}")


def test_readme_names_exactly_the_alert_rules() -> None:
    rules = yaml.safe_load((ROOT / "infra" / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    named = set(re.findall(r"`(Twin[A-Z][A-Za-z]+)`", README)) - {"TwinSnapshot"}  # a record type
    assert len(alerts) >= 8
    assert named == alerts, f"README lacks {sorted(alerts - named)}, names no rule {sorted(named - alerts)}"


def test_readme_names_the_dashboards_by_their_titles() -> None:
    """README's Grafana paragraph names each dashboard (*Fleet overview* ...) as Grafana shows it."""
    titles = {json.loads(b.read_text(encoding="utf-8"))["title"].removeprefix("twinflow / ")
              for b in (ROOT / "infra" / "grafana" / "dashboards").glob("*.json")}
    paragraph = README.split("**Grafana** (`infra/grafana/`)", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"\*([A-Z][a-z]+(?: [a-z-]+)+)\* \(", paragraph))
    assert len(titles) == 3 and named == titles, (sorted(named), sorted(titles))


def _settings() -> dict[str, object]:
    """Every setting's and section's whole dotted path (``twin.fleet.model_delay_s``) -> its default."""
    out: dict[str, object] = {}

    def walk(obj: object, prefix: str) -> None:
        for f in fields(obj):  # type: ignore[arg-type]  # a settings dataclass
            out[prefix + f.name] = value = getattr(obj, f.name)
            if hasattr(value, "__dataclass_fields__"):
                walk(value, f"{prefix}{f.name}.")

    walk(PipelineConfig(), "")
    return out


def _setting_defaults() -> dict[str, list[tuple[str, object]]]:
    """Each setting's leaf name -> (its dotted path, its default) for every setting of that name."""
    out: dict[str, list[tuple[str, object]]] = {}
    for path, value in _settings().items():
        if not hasattr(value, "__dataclass_fields__"):
            out.setdefault(path.rsplit(".", 1)[-1], []).append((path, value))
    return out


STATED_DEFAULT = re.compile(r"`([a-z_]+(?:\.[a-z_]+)*)`(?:,| \(|, default| \(default) ?(?:default )?"
                            r"(\d[\d,]*(?:\.\d+)?)( ?%| h| days?| s)?[),;]")
UNITS = {None: 1.0, " s": 1.0, " h": 3600.0, " d": 86400.0, " day": 86400.0, " days": 86400.0,
         "%": 0.01, " %": 0.01}


def test_defaults_readme_states_are_the_settings_defaults() -> None:
    """README states a setting's default beside its name (`` `defect_min_snr`, 4.0, ``, `` `refresh_s`
    (24 h) ``, `` `switch_margin` (10 %) ``): each is the default the code declares."""
    defaults = _setting_defaults()
    stated = [(m.group(1), float(m.group(2).replace(",", "")) * UNITS[m.group(3)])
              for m in STATED_DEFAULT.finditer(README) if m.group(1).split(".")[-1] in defaults]
    assert len(stated) >= 12  # the scan sees them
    wrong = []
    for name, value in stated:
        paths = [(p, d) for p, d in defaults[name.split(".")[-1]] if p.endswith(name)]
        if not any(isinstance(d, int | float) and abs(float(d) - value) <= 1e-9 * max(1.0, value)
                   for _, d in paths):
            wrong.append((name, value, paths))
    assert not wrong, f"defaults README states that are not the code's: {wrong}"


NOT_CODE = {"flows.kafka.librdkafka": "a logger's name (flows/kafka/client_log.py)"}


def test_dotted_names_the_docs_give_resolve() -> None:
    """A `twin_models.x.y` or `flows.x.y` README or CONTRIBUTING names is a module, or a name in one."""
    import importlib

    unresolved = []
    names = {n for text in DOCS.values() for n in re.findall(r"`((?:twin_models|flows)(?:\.\w+)+)", text)}
    assert len(names) >= 15
    for name in sorted(names - set(NOT_CODE)):
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            try:
                obj: object = importlib.import_module(".".join(parts[:k]))
            except ImportError:
                continue
            try:
                for attr in parts[k:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                unresolved.append(name)
            break
    assert not unresolved, f"dotted names in the docs that name nothing: {unresolved}"


NOT_SETTINGS = {
    "alerts.parquet": "a backtest's output file",
    "twin.event_time_ms": "a Kafka header of twinflow's producers",
    "twin.progress": "a Kafka header of the fleet-models topic",
    "twin.void": "a Kafka header of the fleet-models topic",
    "twin.novelty_scales": "the old name README says was renamed",
}



def test_dotted_setting_names_in_the_docs_are_whole_paths() -> None:
    """A setting the docs name as `` `a.b` `` is its whole path from ``[pipeline]`` (what a TOML
    table or a ``TWIN_A__B`` variable takes): round 46 found `topics.state` for
    ``kafka.topics.state``, a key the config refuses."""
    paths = set(_settings())
    sections = {p.split(".")[0] for p in paths if "." in p}
    named = {n for text in DOCS.values() for n in re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", text)}
    settings = {n for n in named if n.split(".")[0] in sections or any(p.endswith("." + n) for p in paths)}
    assert len(settings) >= 15  # the scan sees them
    wrong = {n: sorted(p for p in paths if p.endswith("." + n)) for n in settings - paths - set(NOT_SETTINGS)}
    assert not wrong, f"setting names in the docs that are not whole paths (-> the paths meant): {wrong}"
    stale = sorted(set(NOT_SETTINGS) - named)
    assert not stale, f"NOT_SETTINGS names what the docs no longer name: {stale}"


def test_bad_input_paragraph_names_exactly_the_codec_and_admission_reasons() -> None:
    """README's "Bad input never stops the pipeline" lists the codec's refusal reasons, then the
    admission rules': each list is exactly the code's."""
    from flows.codec import REASONS as CODEC
    from flows.dataflow.admission import REASONS as ADMISSION

    section = README.split("### Bad input never stops the pipeline", 1)[1]
    codec = section.split("The **codec**", 1)[1].split("reason:", 1)[1]
    codec, rest = codec.split("The **admission rules**", 1)
    admission = rest.split("Records that arrive after their window closed", 1)[0]
    reason = re.compile(r"`([a-z]+(?:_[a-z]+)*)`")
    for text, code in ((codec, CODEC), (admission, ADMISSION)):
        named = set(reason.findall(text))
        lacks, extra = sorted(set(code) - named), sorted(named - set(code))
        assert not lacks and not extra, f"README lacks {lacks}, names no reason {extra}"


def test_the_topic_configs_readme_states_are_those_topics_create_sets() -> None:
    """Round 49 (DOCS49): README did not say which topic configs `twin topics create` sets, which a
    team creating the topics itself needs (the dead letters' retention, the waveforms' message size)."""
    from flows.app.topics import TOPIC_CONFIGS

    text = " ".join(DOCS["README.md"].split())
    start = text.index("`twin topics create` sets these topic configs")
    said = text[start:text.index("**A voided life**", start)]
    mib = {role: int(conf["max.message.bytes"]) // 2**20 for role, conf in TOPIC_CONFIGS.items()
           if "max.message.bytes" in conf}
    assert f"waveform frames `max.message.bytes` {mib.pop('waveforms')} MiB" in said
    assert f"fleet models {mib.pop('fleet_models')} MiB" in said
    assert not mib, f"max.message.bytes README does not state: {mib}"
    days = int(TOPIC_CONFIGS["dead_letters"]["retention.ms"]) // 86_400_000
    assert f"dead letters `retention.ms` {days} days" in said
    assert f"command audit `retention.ms={TOPIC_CONFIGS['audit']['retention.ms']}`" in said
    compacted = sorted(r for r, c in TOPIC_CONFIGS.items() if c.get("cleanup.policy") == "compact")
    assert compacted == ["fleet_models", "state"]
    assert "state and fleet models `cleanup.policy=compact`" in said
