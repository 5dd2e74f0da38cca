"""The registry: one declaration per kind, reader, detector, engine and output, and every list derived from it."""

from __future__ import annotations

import ast
import graphlib
import importlib
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from helpers import ROOT
from minescope import registry
from minescope.cases.workflow import case_kinds
from minescope.errors import InputError
from minescope.outputs.charts import kind_colour
from minescope.outputs.i18n import LABELS
from minescope.outputs.jsonout import load_schema
from minescope.web.i18n import LABELS as CONSOLE_LABELS

SRC = ROOT / "src" / "minescope"


def test_docs_plugins_page_is_the_registry() -> None:
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert registry.markdown() in page, "docs/plugins.md is out of date: paste `python -m minescope.registry` into it"


def test_every_kind_is_documented_and_derived_everywhere() -> None:
    detection = (ROOT / "docs" / "detection.md").read_text(encoding="utf-8")
    schema_kinds = load_schema()["$defs"]["kind"]["enum"]
    detected = {k for d in registry.detectors() for k in d.kinds}
    for name, spec in registry.kinds().items():
        assert f"`{name}`" in detection, f"{name} is not described in docs/detection.md"
        assert LABELS[f"kind.{name}"] == (spec.label.zh, spec.label.en)
        assert CONSOLE_LABELS[f"kind.{name}"] == (spec.label.zh, spec.label.en)
        assert kind_colour(name) == spec.colour
        assert name in schema_kinds
        assert (name in case_kinds()) == spec.opens_case
        assert (name in registry.mining_kinds()) == spec.mining
        assert name in detected, f"no detector declares {name}"


def test_tips_kind_goes_through_the_registry() -> None:
    spec = registry.kind("public_report")
    assert spec is not None and spec.dimension == "tip" and not spec.opens_case
    assert LABELS["kind.public_report"] == ("公众举报", "Public report")


def test_cli_choices_come_from_the_registry() -> None:
    from minescope.cli import main

    scan = main.commands["scan"]
    choices = {p.name: list(p.type.choices) for p in scan.params if hasattr(p.type, "choices")}
    assert choices["fmt"] == list(registry.outputs("scan"))
    assert choices["engine"] == list(registry.engines())
    export = main.commands["export"]
    assert [list(p.type.choices) for p in export.params if p.name == "fmt"] == [list(registry.outputs("export"))]


def test_sql_detectors_import_without_numba() -> None:
    code = ("import sys, minescope.dimensions.network.detectors.flowlog, "
            "minescope.dimensions.network.detectors.behaviour, minescope.registry; "
            "minescope.registry.kinds(); print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _unit(module: str) -> str:
    """The package a module belongs to: minescope.X, or minescope.dimensions.X for a dimension."""
    parts = module.split(".")
    return ".".join(parts[:3] if len(parts) >= 3 and parts[1] == "dimensions" else parts[:2])


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        module = ".".join(("minescope", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("minescope."):
                a, b = _unit(module), _unit(node.module or "")
                if a != b:
                    graph[a].add(b)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        raise AssertionError(f"import cycle between packages: {' → '.join(e.args[1])}") from None


def test_every_dimension_has_the_same_shape() -> None:
    for folder in sorted(p for p in (SRC / "dimensions").iterdir() if p.is_dir() and p.name != "__pycache__"):
        for part in ("readers", "detectors"):
            assert (folder / part / "__init__.py").is_file(), f"{folder.name}/{part}/"
        for part in ("kinds.py", "tables.py", "__init__.py"):
            assert (folder / part).is_file(), f"{folder.name}/{part}"


def test_an_outside_package_adds_a_kind_with_one_declaration(tmp_path: Path) -> None:
    """A package installed beside minescope declares one kind; every list derives it, no minescope file changes."""
    (tmp_path / "meterplug.py").write_text(
        "from minescope.model import Severity, Text\n"
        "from minescope.registry import Detector, KindSpec, Plugin\n"
        "SURGE = KindSpec('mining_load_surge', dimension='power', label=Text('疑似挖矿用电', 'Mining-like load'),\n"
        "                 colour='#123456', mining=True, opens_case=True, severity=Severity.MEDIUM)\n"
        "PLUGIN = Plugin(name='meterplug', dimension='power', kinds=(SURGE,), detectors=(\n"
        "    Detector('surge', 'power', (SURGE,), ('readings',), 'flat 24-hour load', 'meterplug:PLUGIN'),))\n",
        encoding="utf-8")
    dist = tmp_path / "meterplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: meterplug\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[minescope.plugins]\nmeterplug = meterplug:PLUGIN\n", encoding="utf-8")
    code = ("from minescope import registry\n"
            "from minescope.cases.workflow import case_kinds\n"
            "from minescope.outputs.charts import kind_colour\n"
            "from minescope.outputs.i18n import t\n"
            "from minescope.outputs.jsonout import load_schema\n"
            "k = 'mining_load_surge'\n"
            "print(k in registry.kinds(), k in case_kinds(), k in registry.mining_kinds(), kind_colour(k),\n"
            "      t('kind.' + k, 'en'), k in load_schema()['$defs']['kind']['enum'], registry.plugins()[-1].name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}).stdout
    assert out.split() == ["True", "True", "True", "#123456", "Mining-like", "load", "True", "meterplug"]


def test_which_kinds_open_cases_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINESCOPE_CASE_KINDS", "mining_session, public_report")
    assert case_kinds() == ("mining_session", "public_report")
    monkeypatch.setenv("MINESCOPE_CASE_KINDS", "mining_session,no_such_kind")
    with pytest.raises(InputError, match="no_such_kind"):
        case_kinds()


def test_tests_share_helpers_only_through_one_module() -> None:
    """Tests mirror src/; what they share is in tests/helpers.py (fixtures in conftest.py): no test file imports
    another test file or conftest."""
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n.split(".")[0].startswith("test_") or n == "conftest" for n in names), path


def test_every_declared_entry_is_importable() -> None:
    """Declarations name their code as module[:attribute]; a rename that forgets the declaration fails here."""
    entries = ([d.entry for d in registry.detectors()] + [r.entry for r in registry.readers().values()]
               + [e.entry for e in registry.engines().values()] + [t.schema for t in registry.tables().values()])
    for entry in entries:
        module, _, attribute = entry.partition(":")
        loaded = importlib.import_module(module)
        assert not attribute or hasattr(loaded, attribute), entry
