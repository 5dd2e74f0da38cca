"""Golden findings: every sample capture and flow log, one file at a time, on every route of the command line.

Routes (``tests/golden/record.py``): ``scan`` (``minescope scan FILE``), ``duckdb`` and ``spark``
(``minescope flows import FILE -o DATASET``, then ``minescope scan DATASET --engine ...``). Each result must equal
``tests/golden/<route>/<input>.json``, recorded from the code before the layout refactor of issue 10: every
finding, every field (floats to 1e-9 relative), exit codes and problems; only the clock is left out.

Only the command (``minescope.cli:main``) is used, never an internal module: module paths may move, findings
may not. A failure lists the findings gone, new or changed, field by field. To change a golden on purpose,
re-record it (tests/golden/README.md) and review the diff.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from golden.record import HERE, ROUTES, diff, golden_file, inputs, load, record, stop_spark
from helpers import ROOT

INPUTS = inputs(ROOT)
CASES = [pytest.param(route, key, id=f"{route}:{key}") for route in ROUTES for key in INPUTS]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("golden")


@pytest.fixture(scope="module")
def datasets() -> dict[Path, tuple[Path, int, str]]:
    """One ``flows import`` per input, shared by the duckdb and spark routes."""
    return {}


@pytest.fixture(scope="module")
def spark() -> Iterator[None]:
    """One Spark session for the module: the first ``--engine spark`` scan starts it, the command keeps it for
    the next ones (as in test_flow_engines.py's module fixture), and it is stopped when the module ends."""
    pytest.importorskip("pyspark")
    yield
    stop_spark()


def test_every_input_has_its_goldens() -> None:
    """A new sample input needs its goldens recorded; a removed one, its goldens removed."""
    assert len(INPUTS) >= 80
    for route in ROUTES:
        folder = HERE / route
        recorded = {p.relative_to(folder).as_posix().removesuffix(".json") for p in folder.rglob("*.json")}
        assert recorded == set(INPUTS), f"{route}: re-record with tests/golden/record.py --route {route}"


@pytest.mark.parametrize(("route", "key"), CASES)
def test_findings_match_golden(route: str, key: str, workdir: Path, datasets: dict[Path, tuple[Path, int, str]],
                               request: pytest.FixtureRequest) -> None:
    if route == "spark":
        request.getfixturevalue("spark")
    path = golden_file(route, key)
    if not path.exists():
        pytest.fail(f"no golden {path.relative_to(ROOT)}: record it with tests/golden/record.py --route {route}")
    changes = diff(load(path), record(route, INPUTS[key], workdir, datasets, ROOT))
    assert not changes, (f"{route} route, {key}: not as in {path.relative_to(ROOT)}\n" + "\n".join(changes)
                         + "\n(if the change is intended, re-record: see tests/golden/README.md)")
