"""The fault-injection suite (tests/faults/) as a soak: round after round, new seeds, more cases, for N minutes.

    python benchmarks/soak.py --minutes 60 [--scale 4] [--workers 2] [--first-seed 1] [-k EXPR]
    make soak MINUTES=60

Each round runs ``pytest tests/faults`` with ``MINESCOPE_FAULTS_SEED`` set to the round's seed (CI runs
seed 0) and ``MINESCOPE_FAULTS_SCALE`` to ``--scale``: every mutated input, kill moment and concurrent
round is drawn anew, and there are ``scale`` times as many of them (mutants per input, random kills,
concurrent rounds on SQLite and PostgreSQL). No round is started after the time is up; a round already
running finishes. The PostgreSQL tests need ``MINESCOPE_TEST_PG`` as for ``make test``.

Prints one line per round (seed, passed, failed, seconds, the failed tests) and a summary; exits 1 if any
round failed. A failed round is reproduced with its seed and scale:

    MINESCOPE_FAULTS_SEED=7 MINESCOPE_FAULTS_SCALE=4 pytest tests/faults -k NAME
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_round(seed: int, scale: int, workers: int, keyword: str | None) -> tuple[int, int, list[str], float]:
    env = dict(os.environ, MINESCOPE_FAULTS_SEED=str(seed), MINESCOPE_FAULTS_SCALE=str(scale), MINESCOPE_NO_SKIP="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "tests/faults"]
    if workers > 1:
        cmd += ["-n", str(workers)]
    if keyword:
        cmd += ["-k", keyword]
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.monotonic() - t0
    out = p.stdout + p.stderr
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", out))
    failed = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", out))
    names = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
    if p.returncode not in (0, 1) and not names:  # pytest itself could not run (usage, collection, interrupt)
        names = [f"pytest exited {p.returncode}: {out.strip().splitlines()[-1] if out.strip() else ''}"]
        failed = max(failed, 1)
    return passed, failed, names, took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, required=True, help="start no round after this many minutes")
    parser.add_argument("--scale", type=int, default=4, help="cases and repetitions per round, times CI's (4)")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (2)")
    parser.add_argument("--first-seed", type=int, default=1, help="the first round's seed (1; CI runs 0)")
    parser.add_argument("-k", dest="keyword", help="only the tests pytest -k selects")
    args = parser.parse_args()
    end = time.monotonic() + args.minutes * 60
    seed, rounds, bad = args.first_seed, 0, []
    while time.monotonic() < end:
        passed, failed, names, took = run_round(seed, args.scale, args.workers, args.keyword)
        rounds += 1
        print(f"seed {seed}: {passed} passed, {failed} failed in {took:.0f} s"
              + "".join(f"\n    {n}" for n in names), flush=True)
        if failed:
            bad.append(seed)
        seed += 1
    print(f"{rounds} round(s), scale {args.scale}: " + (f"failures with seeds {bad}" if bad else "no failure"))
    return 1 if bad or not rounds else 0


if __name__ == "__main__":
    sys.exit(main())
