"""Start-up: the wall time of short minescope commands on a small capture, and what they import.

    python benchmarks/startup.py [--runs 5] [--capture FILE] [--baseline SRC]

1. Runs each command once untimed (a warm machine: bytecode and numba's on-disk cache filled), then
   --runs times, the commands taking turns, and reports the median wall time of each:
   `minescope scan FILE --no-store` (terminal summary into a pipe), the same with `--format json`,
   `minescope --help`, `minescope cases list` on an existing empty store, `python -c "import
   minescope.cli"`, and `ndpiReader -i FILE -q -v 0` when it is installed.
2. --baseline SRC times the same commands with another copy of the package (a directory holding
   ``minescope/``, e.g. an older checkout's ``src``) first on the import path, in the same run, the
   two taking turns: before and after on the same machine under the same load.
3. Runs `python -X importtime -m minescope scan FILE --no-store` once and lists the top-level imports
   that cost most (cumulative microseconds; -X importtime adds its own overhead, so the sum is above
   the wall time's import share) and whether the heavy optional packages were imported at all.
4. Prints a table and writes benchmarks/results/startup.json with machine facts.

Python writes no bytecode when PYTHONDONTWRITEBYTECODE is set (as on some CI machines), which makes every
run compile minescope's sources again; this script unsets it and keeps the bytecode in
benchmarks/work/pycache (PYTHONPYCACHEPREFIX), so the source tree is left as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RESULTS, ROOT, WORK, BenchError, fail, machine_info

DEFAULT_CAPTURE = ROOT / "samples" / "pcap" / "mining" / "ndpi_mining.pcapng"
# Packages a short scan of a capture with --no-store does not need (the console, reports, the store, Spark).
HEAVY = ("fastapi", "uvicorn", "starlette", "jinja2", "weasyprint", "pyspark", "sqlalchemy", "alembic",
         "openpyxl", "pandas")


def environment(baseline: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache" / ("baseline" if baseline else "current"))
    if baseline is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(baseline), *filter(None, [env.get("PYTHONPATH")])])
    return env


def commands(capture: Path, store: Path) -> dict[str, list[str]]:
    py = [sys.executable]
    return {
        "scan --no-store": [*py, "-m", "minescope", "scan", str(capture), "--no-store"],
        "scan --no-store --format json": [*py, "-m", "minescope", "scan", str(capture), "--no-store",
                                          "--format", "json"],
        "--help": [*py, "-m", "minescope", "--help"],
        "cases list": [*py, "-m", "minescope", "cases", "list", "--db", str(store)],
        "import minescope.cli": [*py, "-c", "import minescope.cli"],
    }


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, check=False)
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 2):
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
        raise BenchError(f"`{' '.join(cmd[-4:])}` exited {proc.returncode}: {last}")
    return took


# Runs a command, then (at exit, after its SystemExit too) writes the names of the modules it loaded.
_LOADED = """
import atexit, json, pathlib, sys
out = pathlib.Path(sys.argv.pop(1))
atexit.register(lambda: out.write_text(json.dumps(sorted(sys.modules))))
from minescope.cli import main
main()
"""


def import_offenders(capture: Path, env: dict[str, str], top: int = 15) -> dict[str, Any]:
    """Top-level imports of a short scan by cumulative time (-X importtime), and which heavy packages
    it loaded (sys.modules at exit: -X importtime also lists imports that failed, such as optional ones)."""
    scan = ["scan", str(capture), "--no-store"]
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "minescope", *scan],
                          env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _self_us, cumulative, name = line.split(":", 1)[1].split("|")
        if name.startswith(" ") and not name.startswith("  "):  # depth 0: imported by the command itself
            rows.append((int(cumulative), name.strip()))
    rows.sort(reverse=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "modules.json"
        subprocess.run([sys.executable, "-c", _LOADED, str(out), *scan], env=env, cwd=ROOT, capture_output=True,
                       check=False)
        loaded = {m.split(".")[0] for m in json.loads(out.read_text())} if out.exists() else set()
    return {"top": [{"module": n, "cumulative_us": us} for us, n in rows[:top]],
            "heavy_imported": sorted(p for p in HEAVY if p in loaded)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE)
    ap.add_argument("--baseline", type=Path, help="another copy of the package (a folder holding minescope/)")
    args = ap.parse_args()
    if not args.capture.is_file():
        raise BenchError(f"{args.capture}: no such capture")
    if args.baseline is not None and not (args.baseline / "minescope" / "__init__.py").is_file():
        raise BenchError(f"{args.baseline}: holds no minescope/ package")
    variants = {"current": environment(None)}
    if args.baseline is not None:
        variants = {"baseline": environment(args.baseline.resolve()), **variants}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "startup.db"
        cmds = commands(args.capture.resolve(), store)
        if shutil.which("ndpiReader"):
            cmds["ndpiReader"] = ["ndpiReader", "-i", str(args.capture.resolve()), "-q", "-v", "0"]
        times: dict[str, dict[str, list[float]]] = {v: {c: [] for c in cmds} for v in variants}
        for env in variants.values():  # warm-up: bytecode, numba's cache, the store's schema
            for cmd in cmds.values():
                timed(cmd, env)
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                for variant, env in variants.items():
                    if name == "ndpiReader" and variant != "current":
                        continue
                    times[variant][name].append(timed(cmd, env))
        imports = {v: import_offenders(args.capture.resolve(), env) for v, env in variants.items()}
    medians = {v: {c: round(statistics.median(ts), 3) for c, ts in per.items() if ts} for v, per in times.items()}
    print(f"| command | {' | '.join(variants)} |")
    print("|---|" + "---|" * len(variants))
    for name in cmds:
        print(f"| `{name}` | " + " | ".join(f"{medians[v].get(name, float('nan')):.2f} s" for v in variants) + " |")
    for variant, found in imports.items():
        heavy = ", ".join(found["heavy_imported"]) or "none"
        print(f"\n{variant}: heavy packages imported by `scan --no-store`: {heavy}")
        for row in found["top"][:10]:
            print(f"  {row['cumulative_us'] / 1000:8.1f} ms  {row['module']}")
    capture = args.capture.resolve()
    shown = str(capture.relative_to(ROOT) if capture.is_relative_to(ROOT) else capture)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "startup.json"
    out.write_text(json.dumps({
        "machine": machine_info(), "capture": shown, "runs": args.runs,
        "median_seconds": medians, "runs_seconds": {v: {c: [round(t, 3) for t in ts] for c, ts in per.items()}
                                                    for v, per in times.items()},
        "imports": imports,
    }, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        fail(str(e))
