"""Start-up stays light: a command imports what it needs and nothing more (issue 12, item 7).

No timings here (a shared machine makes them flaky; ``benchmarks/startup.py`` measures them): these
tests look at which modules a fresh interpreter holds after importing the CLI or running a command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import CORPUS
from minescope.dimensions.network.capture.jit import INTERPRET_MAX_BYTES

# The console, reports, the store, Spark: none of them is needed to parse a command line.
CONSOLE = ("fastapi", "uvicorn", "starlette", "jinja2", "weasyprint", "minescope.web")
STORE = ("sqlalchemy", "alembic", "minescope.store")
NOT_FOR_PARSING = (*CONSOLE, *STORE, "pyspark", "openpyxl", "pandas", "duckdb", "numba", "pyarrow", "rich",
                   "minescope.pipeline", "minescope.outputs.html", "minescope.outputs.notice")
CAPTURE = CORPUS / "mining" / "ndpi_mining.pcapng"

# Runs the code, then (at exit, after the command's SystemExit too) writes the loaded modules' names.
_PROBE = """
import atexit, json, pathlib, sys
out = pathlib.Path(sys.argv.pop(1))
atexit.register(lambda: out.write_text(json.dumps(sorted(sys.modules))))
{code}
"""


def loaded_after(code: str, tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "MINESCOPE_LANG": "en", "COLUMNS": "120"}
    p = subprocess.run([sys.executable, "-c", _PROBE.format(code=code), str(out), *args],
                       capture_output=True, text=True, env=env, timeout=300)
    assert out.exists(), p.stderr
    return set(json.loads(out.read_text()))


def imported(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


def test_importing_the_cli_imports_no_heavy_module(tmp_path: Path) -> None:
    modules = loaded_after("import minescope.cli", tmp_path)
    assert "minescope.cli" in modules
    assert imported(modules, NOT_FOR_PARSING) == []


def test_help_imports_no_heavy_module(tmp_path: Path) -> None:
    modules = loaded_after("from minescope.cli import main\nmain(['--help'])", tmp_path)
    assert imported(modules, NOT_FOR_PARSING) == []


def test_scan_without_store_imports_neither_console_nor_store(tmp_path: Path) -> None:
    for fmt in ("terminal", "json"):
        modules = loaded_after("from minescope.cli import main\nmain()", tmp_path,
                               "scan", str(CAPTURE), "--no-store", "--format", fmt)
        assert "minescope.pipeline" in modules  # the scan did run
        assert imported(modules, (*CONSOLE, *STORE, "pyspark", "openpyxl")) == [], fmt
        assert imported(modules, ("numba",)) == [], "a small capture runs the packet path interpreted"


def test_a_large_capture_runs_the_compiled_packet_path(tmp_path: Path) -> None:
    large = CORPUS / "benign" / "ndpi_opera-vpn.pcapng"
    assert large.stat().st_size > INTERPRET_MAX_BYTES
    modules = loaded_after("from minescope.cli import main\nmain()", tmp_path, "scan", str(large), "--no-store")
    assert "minescope.dimensions.network.capture.typed_index" in modules


def test_scan_with_store_still_stores(tmp_path: Path) -> None:
    """The store, imported lazily, is there when findings are stored."""
    db = tmp_path / "findings.db"
    modules = loaded_after("from minescope.cli import main\nmain()", tmp_path,
                           "scan", str(CAPTURE), "--db", str(db), "--format", "json")
    assert "minescope.store.findings" in modules
    assert db.stat().st_size > 0
    assert imported(modules, (*CONSOLE, "pyspark")) == []
