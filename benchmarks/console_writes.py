"""The console under concurrent writes: no action lost, the history chain intact, on PostgreSQL.

    python benchmarks/console_writes.py [--pg URL] [--findings 20000] [--cases 2000] [--users 20]
                                        [--ops 30] [--workers 3] [--notices 1]

1. A fresh database filled by ``console_load.fill`` (findings through ``save_scan``, cases and their
   hash-chained history in bulk), and --users analyst accounts with API tokens (national area).
2. ``minescope serve --workers N`` in a subprocess, as users start it.
3. Every virtual user, each in a thread of its own with its own keep-alive connection, sends --ops
   writes without pause: comments and tasks on a few cases that every user writes to (the same cases),
   comments on cases of its own (different cases), assignments of its own new cases, and --notices
   rectification notices (assign, then issue) on its own cases. Each write is one that must succeed.
4. Then checks what was stored against what was answered: every answered write is in the store
   (comments, tasks, history rows by action), nothing else is, and ``minescope cases verify`` finds
   the history chain intact. Errors: any answer but 200 (a 409 included), or no answer.

Prints one line per operation (count, p50, p95, max, errors) and the checks, and writes
benchmarks/results/console_writes.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import RESULTS, ROOT, BenchError, fail, machine_info
from console_load import fill, scratch_database, start_server, stop_server
from sqlalchemy import Engine, func, select

from minescope.store.accounts import add_user, new_token
from minescope.store.cases import case_comments, case_findings, case_history, case_tasks, cases
from minescope.store.findings import open_store

PASSWORD = "write-test-password"
SHARED_CASES = 4  # cases every user writes to at once
OPERATIONS = ("comment_same_case", "task_same_case", "comment_own_case", "assign_own_case", "notice_own_case")


def pick_cases(engine: Engine, users: int, own: int, rng: random.Random) -> tuple[list[int], list[list[int]]]:
    """The shared cases, and for each user cases of its own that are still new (so it may assign them),
    preferring those with few findings (a notice lists them all)."""
    n_findings = (select(func.count()).select_from(case_findings)
                  .where(case_findings.c.case_id == cases.c.id).scalar_subquery())
    with engine.connect() as conn:
        new = list(conn.execute(select(cases.c.id).where(cases.c.state == "new", n_findings <= 5)
                                .order_by(cases.c.id)).scalars())
        others = list(conn.execute(select(cases.c.id).where(cases.c.state != "closed").order_by(cases.c.id)
                                   .limit(SHARED_CASES * 10)).scalars())
    rng.shuffle(new)
    if len(new) < users * own:
        raise BenchError(f"only {len(new)} new cases with few findings; {users * own} are needed: more --cases")
    shared = [c for c in others if c not in set(new[: users * own])][:SHARED_CASES]
    return shared, [new[i * own : (i + 1) * own] for i in range(users)]


class Writer:
    """One user: a keep-alive connection, and the writes it was told succeeded."""

    def __init__(self, base: str, token: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.token = token
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: dict[str, Any] | None) -> int:
        for attempt in range(2):  # a keep-alive connection the server closed: once more on a new one
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                data = json.dumps(body or {}).encode()
                self.conn.request("POST", path, body=data, headers={
                    "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
                answer = self.conn.getresponse()
                answer.read()
                return answer.status
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    return 0
        return 0


def plan_of(shared: list[int], own: list[int], ops: int, notices: int, rng: random.Random) -> list[tuple[str, int]]:
    """The writes of one user, in order: every one of them valid when sent."""
    plan: list[tuple[str, int]] = []
    for case in own[:notices]:
        plan += [("assign_own_case", case), ("notice_own_case", case)]
    for case in own[notices:]:
        plan.append(("assign_own_case", case))
    while len(plan) < ops:
        op = rng.choice(("comment_same_case", "task_same_case", "comment_own_case"))
        plan.append((op, rng.choice(shared) if op.endswith("same_case") else rng.choice(own)))
    head, tail = plan[: 2 * notices], plan[2 * notices :]
    rng.shuffle(tail)  # assignments of cases without notice may come anywhere; a notice follows its assignment
    return head[:1] + tail[: len(tail) // 2] + head[1:] + tail[len(tail) // 2 :]


def request_of(op: str, case: int, user: int, n: int) -> tuple[str, dict[str, Any] | None]:
    if op.startswith("comment"):
        return f"/api/cases/{case}/comments", {"text": f"user {user} comment {n} / 第 {n} 条意见"}
    if op.startswith("task"):
        return f"/api/cases/{case}/tasks", {"text": f"user {user} task {n} / 任务 {n}"}
    if op == "assign_own_case":
        return f"/api/cases/{case}/assign", {"owner": f"officer-{user}", "due_days": 14}
    return f"/api/cases/{case}/notice", None


def history_by_action(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(dict(conn.execute(select(case_history.c.action, func.count())
                                         .group_by(case_history.c.action)).all()))


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {"comments": conn.execute(select(func.count()).select_from(case_comments)).scalar_one(),
                "tasks": conn.execute(select(func.count()).select_from(case_tasks)).scalar_one()}


# the history rows each write adds, by action
ROWS = {"comment_same_case": {"comment": 1}, "comment_own_case": {"comment": 1}, "task_same_case": {"task_add": 1},
        "assign_own_case": {"assign": 1}, "notice_own_case": {"notice_issued": 1}}


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    url, drop = scratch_database(args.pg)
    proc = None
    try:
        engine = open_store(url)
        t0 = time.perf_counter()
        made = fill(engine, args.findings, args.cases, rng, time.time())
        tokens = [new_token(engine, add_user(engine, f"writer-{i}", PASSWORD, "analyst", national=True))
                  for i in range(args.users)]
        own_n = max(args.notices, 1) + 2
        shared, own = pick_cases(engine, args.users, own_n, rng)
        fill_s = time.perf_counter() - t0
        before_rows, before_counts = history_by_action(engine), counts(engine)
        print(f"filled in {fill_s:.0f} s: {made['findings']:,} findings, {made['cases']:,} cases; "
              f"{args.users} writers × {args.ops} writes …", file=sys.stderr)
        proc, base = start_server(url, args.workers)
        samples: list[tuple[str, float, int]] = []
        lock = threading.Lock()
        start = threading.Barrier(args.users)

        def user(i: int) -> None:
            writer = Writer(base, tokens[i])
            plan = plan_of(shared, own[i], args.ops, args.notices, random.Random(args.seed * 1000 + i))
            start.wait()
            for n, (op, case) in enumerate(plan):
                path, body = request_of(op, case, i, n)
                t = time.perf_counter()
                status = writer.post(path, body)
                with lock:
                    samples.append((op, time.perf_counter() - t, status))

        threads = [threading.Thread(target=user, args=(i,)) for i in range(args.users)]
        t1 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t1
        stop_server(proc)
        proc = None
        after_rows, after_counts = history_by_action(engine), counts(engine)
        verify = subprocess.run([sys.executable, "-m", "minescope", "cases", "verify", "--db", url, "--lang", "en"],
                                capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
        engine.dispose()
    finally:
        if proc is not None:
            stop_server(proc)
        if not args.keep:
            drop()
    ok = [s for s in samples if s[2] == 200]
    expected: Counter[str] = Counter()
    for op, _, _ in ok:
        expected.update(ROWS[op])
    added = after_rows - before_rows
    comments_ok = sum(1 for s in ok if s[0].startswith("comment"))
    tasks_ok = sum(1 for s in ok if s[0].startswith("task"))
    checks = {
        "history_rows_added": dict(added), "history_rows_expected": dict(expected),
        "history_matches": {k: v for k, v in added.items() if k != "attach"} == dict(expected),
        "comments_added": after_counts["comments"] - before_counts["comments"], "comments_answered": comments_ok,
        "tasks_added": after_counts["tasks"] - before_counts["tasks"], "tasks_answered": tasks_ok,
        "cases_verify_exit": verify.returncode, "cases_verify": (verify.stdout + verify.stderr).strip()[-500:],
    }
    checks["intact"] = bool(checks["history_matches"] and checks["comments_added"] == comments_ok
                            and checks["tasks_added"] == tasks_ok and verify.returncode == 0)
    return {"fill_seconds": round(fill_s, 1), "data": made, "seconds": round(elapsed, 2),
            "writes": len(samples), "errors": len(samples) - len(ok),
            "statuses": dict(Counter(str(s[2]) for s in samples)),
            "operations": {op: stats([s[1] for s in samples if s[0] == op],
                                     sum(1 for s in samples if s[0] == op and s[2] != 200)) for op in OPERATIONS},
            "checks": checks}


def stats(latencies: list[float], errors: int) -> dict[str, Any]:
    if not latencies:
        return {"count": 0, "errors": errors}
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {"count": len(ordered), "errors": errors, "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--pg", default=os.environ.get("MINESCOPE_TEST_PG", ""),
                    help="SQLAlchemy URL of a PostgreSQL role that may create databases (default: $MINESCOPE_TEST_PG)")
    ap.add_argument("--findings", type=int, default=20_000, help="findings to store (default %(default)s)")
    ap.add_argument("--cases", type=int, default=2_000, help="cases to make (default %(default)s)")
    ap.add_argument("--users", type=int, default=20, help="concurrent writers (default %(default)s)")
    ap.add_argument("--ops", type=int, default=30, help="writes per user (default %(default)s)")
    ap.add_argument("--notices", type=int, default=1, help="notices each user issues (default %(default)s)")
    ap.add_argument("--workers", type=int, default=3, help="console processes (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the database (dropped by default)")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "console_writes.json",
                    help="JSON results (default: %(default)s)")
    args = ap.parse_args(argv)
    if not args.pg:
        fail("give a PostgreSQL URL with --pg or MINESCOPE_TEST_PG")
    if min(args.findings, args.cases, args.users, args.ops, args.workers) < 1 or args.cases > args.findings:
        fail("--findings, --cases, --users, --ops and --workers must be at least 1, and cases ≤ findings")
    try:
        run = one_run(args)
    except BenchError as e:
        fail(str(e))
    result = {"machine": machine_info(),
              "parameters": {k: v for k, v in vars(args).items() if k not in ("pg", "output", "keep")}, **run}
    print("| operation | writes | p50 ms | p95 ms | max ms | errors |\n|---|---:|---:|---:|---:|---:|")
    for op, s in run["operations"].items():
        print(f"| {op} | {s['count']} | {s.get('p50_ms', '')} | {s.get('p95_ms', '')} | {s.get('max_ms', '')} | "
              f"{s['errors']} |")
    c = run["checks"]
    print(f"\n{run['writes']} writes by {args.users} users in {run['seconds']} s, {args.workers} worker(s); errors "
          f"{run['errors']} (answers: {run['statuses']}); history rows added {c['history_rows_added']} (expected "
          f"{c['history_rows_expected']}); comments {c['comments_added']}/{c['comments_answered']}, tasks "
          f"{c['tasks_added']}/{c['tasks_answered']}; cases verify: {c['cases_verify']}; "
          f"{'INTACT' if c['intact'] else 'NOT INTACT'}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"written: {args.output}")
    if run["errors"] or not c["intact"]:
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
