"""Record the golden findings of every sample input on every route (issue 10, "Baselines first").

Every sample capture (``samples/pcap/**``) and every sample flow or sensor log (``tests/data/flowlogs/**``)
is run, one file at a time, through the stable command line (``minescope.cli:main``) on three routes:

- ``scan``:   ``minescope scan FILE --format json --no-store``
- ``duckdb``: ``minescope flows import FILE -o DATASET``, then ``minescope scan DATASET --format json
  --no-store --engine duckdb``
- ``spark``:  the same dataset with ``--engine spark`` (one Spark session for the whole run)

Each result becomes ``tests/golden/<route>/<key>.json``, ``<key>`` being the input's path under
``samples/pcap`` (``pcap/...``) or ``tests/data/flowlogs`` (``flowlogs/...``). The files hold the exit codes,
the problems and the full finding objects, normalised: clock fields dropped, findings sorted by id,
absolute paths made relative to the repository root, the temporary dataset written as ``<dataset>``.

This module only defines functions: ``tests/test_pipeline_golden.py`` imports it. Run it to re-record on purpose::

    .venv/bin/python tests/golden/record.py                       # every route, with the code of this tree
    .venv/bin/python tests/golden/record.py --route spark         # one route (repeatable)
    PYTHONPATH=/tmp/tree/src .venv/bin/python tests/golden/record.py --root /tmp/tree   # another tree's code

It imports nothing of minescope but ``minescope.cli``: internal module paths may change, the CLI does not.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ROUTES = ("scan", "duckdb", "spark")
# where the inputs lie, and the prefix of their golden files' names
INPUT_SETS = (("samples/pcap", "pcap"), ("tests/data/flowlogs", "flowlogs"))
# files beside the inputs that are not inputs: manifests, ground truth, the scripts that made the logs
NOT_INPUTS = {"MANIFEST.tsv", "ground-truth.json", "README.md"}
NOT_INPUT_SUFFIXES = {".py", ".sh", ".md"}
# the scan's own clock (when it ran, how long it took): never data. first_seen/last_seen are the capture's own
# times and stay.
CLOCK_FIELDS = frozenset({"generated_at", "started_at", "started_at_iso", "wall_seconds", "scanned_at",
                          "imported_at"})
# dataset files are named part-<YYYYmmddTHHMMSS>-<8 hex>-<n>.parquet: the import's clock and a random id
IMPORT_ID = re.compile(r"part-\d{8}T\d{6}-[0-9a-f]{8}-")
# floats are compared to 1e-9 relative: Spark may add partial sums in another order from run to run
REL_TOL = 1e-9


def inputs(root: Path = ROOT) -> dict[str, Path]:
    """Every sample input, by golden key (``pcap/mining/x.pcap``, ``flowlogs/zeek/conn.log``), sorted."""
    found: dict[str, Path] = {}
    for folder, prefix in INPUT_SETS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.name not in NOT_INPUTS and path.suffix not in NOT_INPUT_SUFFIXES:
                found[f"{prefix}/{path.relative_to(root / folder).as_posix()}"] = path
    return found


def golden_file(route: str, key: str, out: Path = HERE) -> Path:
    return out / route / f"{key}.json"


def cli_env(config_home: Path) -> dict[str, str | None]:
    """The environment of every command: no user pool feeds, default language and Spark master."""
    return {"MINESCOPE_FEEDS": None, "XDG_CONFIG_HOME": str(config_home), "MINESCOPE_LANG": None,
            "MINESCOPE_SPARK_MASTER": None, "MINESCOPE_DB": None}


def invoke(args: Sequence[str], env: dict[str, str | None]) -> tuple[int, str, str]:
    """Run ``minescope ARGS`` in this process (so Spark starts once); exit code, stdout, stderr."""
    from click.testing import CliRunner

    from minescope.cli import main

    res = CliRunner(env=env).invoke(main, list(args))
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise RuntimeError(f"minescope {' '.join(args)} raised {res.exception!r}\n{res.stderr}") from res.exception
    return res.exit_code, res.stdout, res.stderr


def _scan_json(args: Sequence[str], env: dict[str, str | None]) -> tuple[int, dict[str, Any], str]:
    code, out, err = invoke(["scan", *args, "--format", "json", "--no-store"], env)
    try:
        doc = json.loads(out)
    except ValueError as e:
        raise RuntimeError(f"minescope scan {' '.join(args)}: no JSON on stdout (exit {code})\n{err}") from e
    return code, doc, err


def record(route: str, path: Path, workdir: Path, datasets: dict[Path, tuple[Path, int, str]] | None = None,
           root: Path = ROOT) -> dict[str, Any]:
    """The normalised golden document of one input on one route.

    ``workdir`` holds the datasets and an empty config home; ``datasets`` (input → dataset, import exit code,
    import stderr) lets the duckdb and spark routes share one import of the same input."""
    env = cli_env(workdir / "config")
    doc: dict[str, Any] = {"route": route, "input": path}
    if route == "scan":
        code, data, _ = _scan_json([str(path)], env)
        dataset = None
    elif route in ("duckdb", "spark"):
        cache = {} if datasets is None else datasets
        if path not in cache:
            dataset = Path(tempfile.mkdtemp(prefix="ds-", dir=workdir)) / "dataset"
            icode, _, ierr = invoke(["flows", "import", str(path), "-o", str(dataset), "--lang", "en"], env)
            cache[path] = (dataset, icode, ierr)
        dataset, icode, ierr = cache[path]
        doc["import"] = {"exit_code": icode, "messages": ierr.strip().splitlines()}
        code, data, _ = _scan_json([str(dataset), "--engine", route], env)
    else:
        raise ValueError(f"unknown route {route!r}; one of {', '.join(ROUTES)}")
    doc["exit_code"] = code
    doc["problems"] = data.get("problems", [])
    doc["findings"] = data.get("findings", [])
    return normalise(doc, root, dataset)


def normalise(doc: Any, root: Path = ROOT, dataset: Path | None = None) -> Any:
    """Clock fields dropped, findings sorted by id, paths relative to ``root``, the dataset as ``<dataset>``."""
    prefixes = [(f"{dataset}/", "<dataset>/"), (str(dataset), "<dataset>")] if dataset is not None else []
    prefixes += [(f"{root}/", ""), (str(root), ".")]

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items() if k not in CLOCK_FIELDS}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, str):
            for old, new in prefixes:
                value = value.replace(old, new)
            return IMPORT_ID.sub("part-<import>-", value)
        return value

    out = walk(doc)
    if isinstance(out, dict) and isinstance(out.get("findings"), list):
        out["findings"].sort(key=lambda f: (str(f.get("id")), dumps(f)))
    return out


def dumps(data: Any) -> str:
    """Small, sorted, pretty-printed JSON (UTF-8 text, Chinese kept readable)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# -- comparing ---------------------------------------------------------------------------------------------

def _label(f: dict[str, Any]) -> str:
    peer = f.get("peer") or {}
    where = f"{peer.get('host') or peer.get('ip')}:{peer.get('port')}" if peer else "-"
    return f"{f.get('id')} ({f.get('kind')} {f.get('subject_ip')} -> {where})"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, int | float) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    if isinstance(b, float) and isinstance(a, int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def _fields(expected: Any, actual: Any, where: str, out: list[str]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys()):
            sub = f"{where}.{key}" if where else key
            if key not in actual:
                out.append(f"  {sub}: missing (was {_short(expected[key])})")
            elif key not in expected:
                out.append(f"  {sub}: new field = {_short(actual[key])}")
            else:
                _fields(expected[key], actual[key], sub, out)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(f"  {where}: {len(expected)} items -> {len(actual)} items")
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            _fields(e, a, f"{where}[{i}]", out)
        for i in range(len(actual), len(expected)):
            out.append(f"  {where}[{i}]: missing (was {_short(expected[i])})")
        for i in range(len(expected), len(actual)):
            out.append(f"  {where}[{i}]: new = {_short(actual[i])}")
    elif not _same(expected, actual):
        out.append(f"  {where}: {_short(expected)} -> {_short(actual)}")


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "…"


def diff(expected: dict[str, Any], actual: dict[str, Any], max_lines: int = 80) -> list[str]:
    """What changed, finding by finding and field by field (empty: the same, floats to 1e-9 relative).

    Findings are matched by id; findings sharing an id (the current code gives a few) are matched in order."""
    out: list[str] = []
    for key in sorted((expected.keys() | actual.keys()) - {"findings"}):
        _fields(expected.get(key), actual.get(key), key, out)
    want, got = _by_id(expected.get("findings", [])), _by_id(actual.get("findings", []))
    for fid in sorted(want.keys() | got.keys()):
        before, after = want.get(fid, []), got.get(fid, [])
        n = max(len(before), len(after))
        for i in range(n):
            tag = f" [{i + 1} of {n} with this id]" if n > 1 else ""
            if i >= len(after):
                out.append(f"finding gone: {_label(before[i])}{tag}")
            elif i >= len(before):
                out.append(f"finding new:  {_label(after[i])}{tag}")
            else:
                changes: list[str] = []
                _fields(before[i], after[i], "", changes)
                if changes:
                    out.append(f"finding changed: {_label(before[i])}{tag}")
                    out.extend(changes)
    if len(out) > max_lines:
        out = [*out[:max_lines], f"… and {len(out) - max_lines} more lines"]
    return out


def _by_id(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        groups.setdefault(str(f.get("id")), []).append(f)
    return groups


# -- recording ---------------------------------------------------------------------------------------------

@contextmanager
def workspace() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="minescope-golden-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def stop_spark() -> None:
    """Stop the Spark session the CLI started, if any (the CLI leaves it running for the next command)."""
    if "pyspark" not in sys.modules:
        return
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--route", action="append", choices=ROUTES,
                        help="record only this route (repeatable; default: all three)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="tree whose inputs are read and whose paths are stripped (default: this repository)")
    parser.add_argument("--out", type=Path, default=HERE, help="where the golden files go (default: %(default)s)")
    parser.add_argument("--only", metavar="SUBSTRING", help="record only the inputs whose key contains this")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    routes = tuple(dict.fromkeys(args.route or ROUTES))
    chosen = {k: p for k, p in inputs(root).items() if not args.only or args.only in k}
    import minescope

    print(f"recording {len(chosen)} inputs x {', '.join(routes)} with {Path(minescope.__file__).parent}",
          file=sys.stderr)
    os.chdir(root)
    datasets: dict[Path, tuple[Path, int, str]] = {}
    try:
        with workspace() as work:
            for route in routes:
                start = time.perf_counter()
                for key, path in chosen.items():
                    doc = record(route, path, work, datasets, root)
                    target = golden_file(route, key, args.out)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(dumps(doc), encoding="utf-8")
                    print(f"  {route:6} {key}: exit {doc['exit_code']}, {len(doc['findings'])} findings",
                          file=sys.stderr)
                print(f"{route}: {len(chosen)} files in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    finally:
        stop_spark()
    return 0


if __name__ == "__main__":
    sys.exit(main())
