"""twin_models is pure: it imports with every infrastructure package blocked; and the layers of
flows import downwards only (a static scan of every module's imports)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

BLOCKED = ["bytewax", "confluent_kafka", "duckdb", "pyarrow", "prometheus_client", "flows"]

SCRIPT = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('blocked: ' + name)
        return None
sys.meta_path.insert(0, Block())
import pkgutil, importlib, twin_models
names = [m.name for m in pkgutil.walk_packages(twin_models.__path__, 'twin_models.')]
for n in names:
    importlib.import_module(n)
print(len(names))
"""


def test_twin_models_imports_without_infrastructure() -> None:
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.strip()) >= 10  # every module of the package was imported


# --- the layers of flows (issue 9): cli -> app -> dataflow -> codec/config/kafka/archive -> twin_models

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {
    "flows.cli": 4,
    "flows.app": 3,
    "flows.dataflow": 2,
    "flows.codec": 1,
    "flows.config": 1,
    "flows.kafka": 1,
    "flows.archive": 1,
    "flows": 1,  # the package itself (flows/__init__.py: the old-path aliases)
    "twin_models": 0,
}
"""Rank of each layer: a module may import its own layer and the layers below, never above."""


def layer(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest matching prefix), or None."""
    hits = [name for name in LAYERS if module == name or module.startswith(name + ".")]
    return max(hits, key=len) if hits else None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """Every module a file imports (also inside functions), absolute names, with the line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{a.name}") for a in node.names)


def upward_imports(modules: Iterable[tuple[Path, str]]) -> list[str]:
    """``module:line: layer imports target (its layer)`` for every import of a higher layer."""
    found = []
    for path, module in modules:
        own = layer(module)
        if own is None:
            continue
        for line, target in imported(path, module):
            other = layer(target)
            if other is not None and LAYERS[other] > LAYERS[own]:
                found.append(f"{module}:{line}: {own} imports {target} ({other})")
    return sorted(set(found))


def python_modules() -> Iterator[tuple[Path, str]]:
    for package in ("flows", "twin_models"):
        yield from ((p, module_name(p)) for p in sorted((ROOT / package).rglob("*.py")))


def test_every_module_belongs_to_a_layer() -> None:
    modules = list(python_modules())
    assert len(modules) >= 60
    assert [m for _, m in modules if layer(m) is None] == []


def test_no_layer_imports_a_layer_above_it() -> None:
    assert upward_imports(python_modules()) == []


def test_the_scan_sees_upward_imports(tmp_path: Path) -> None:
    """The check itself: a lazy import of the app in a dataflow module, a relative import of the
    CLI from the app, and twin_models importing flows are found; downward imports are not."""
    probe = tmp_path / "probe.py"
    probe.write_text("from flows import codec\n\ndef f():\n    from flows.app.demo import run_fleet\n")
    rel = tmp_path / "rel.py"
    rel.write_text("from ..cli.args import serve_metrics\nfrom ..dataflow import items\n")
    pure = tmp_path / "pure.py"
    pure.write_text("import flows.config.pipeline\nimport numpy\n")
    found = upward_imports([(probe, "flows.dataflow.probe"), (rel, "flows.app.rel"),
                            (pure, "twin_models.pure")])
    assert found == [
        "flows.app.rel:1: flows.app imports flows.cli.args (flows.cli)",
        "flows.app.rel:1: flows.app imports flows.cli.args.serve_metrics (flows.cli)",
        "flows.dataflow.probe:4: flows.dataflow imports flows.app.demo (flows.app)",
        "flows.dataflow.probe:4: flows.dataflow imports flows.app.demo.run_fleet (flows.app)",
        "twin_models.pure:1: twin_models imports flows.config.pipeline (flows.config)",
    ]


# --- the libraries twin_models says it uses (round 46: its docstring, README's Layout and
# CONTRIBUTING said "numpy, scipy and river" while rul/lgbm_trees.py imports LightGBM, and
# twin_models.quality said "numpy only" while its drift check learns a River regression)

LIBRARIES = ("numpy", "scipy", "river", "lightgbm")
"""The third-party libraries twin_models may name; any other third-party import fails below."""


def third_party(package: Path) -> set[str]:
    """The top-level names of every non-stdlib, non-project module a package's files import."""
    own = {"twin_models", "flows", "__future__"}
    return {name.split(".")[0] for p in sorted(package.rglob("*.py"))
            for _, name in imported(p, module_name(p))
            if name and name.split(".")[0] not in sys.stdlib_module_names | own}


def named(text: str) -> set[str]:
    return {lib for lib in LIBRARIES if re.search(rf"\b{lib}\b", text, re.IGNORECASE)}


def contract_statements() -> Iterator[tuple[str, Path, str]]:
    """(where, package, the statement's library list) of each package docstring's ``Contract: ...
    only`` and of README's and CONTRIBUTING's sentence on what twin_models uses."""
    for init in sorted((ROOT / "twin_models").rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if found := re.search(r"Contract: (.*?) only\b", doc, re.S):
            yield str(init.relative_to(ROOT)), init.parent, found.group(1)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = re.search(r"^twin_models/ +pure domain library \(([^;)]*)", readme, re.M)
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    sentence = re.search(r"`twin_models/` is pure \(([^:)]*)", contributing)
    assert line and sentence, "README's Layout line or CONTRIBUTING's sentence on twin_models moved"
    yield "README.md Layout", ROOT / "twin_models", line.group(1)
    yield "CONTRIBUTING.md", ROOT / "twin_models", sentence.group(1)


def test_docs_name_exactly_the_libraries_twin_models_imports() -> None:
    statements = list(contract_statements())
    assert len(statements) >= 5  # twin_models, features, quality; README; CONTRIBUTING
    assert third_party(ROOT / "twin_models") <= set(LIBRARIES), "a new dependency of twin_models"
    wrong = {where: (sorted(named(text)), sorted(third_party(pkg)))
             for where, pkg, text in statements if named(text) != third_party(pkg)}
    assert not wrong, f"libraries stated vs imported (lazy imports included): {wrong}"
