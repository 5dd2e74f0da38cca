"""The console's lists and exports at scale, on PostgreSQL: case search and filters, the findings list and
the tips page under 20 users, then the ledger and a 200-finding notice alone.

    python benchmarks/console_lists.py [--pg URL] [--findings 100000] [--cases 10000] [--tips 5000]
                                       [--users 20] [--duration 60] [--warmup 5] [--workers 3]
                                       [--reuse URL] [--keep]

1. A fresh database filled as ``console_load`` fills it (findings through ``save_scan``, cases with their
   hash-chained history), plus --tips public reports through ``submit_tip`` spread over the counties
   that hold cases, and one account with an API token per virtual user (national, province, city and
   county in turn, as ``console_load``). ``--reuse`` takes a database filled before (with --keep).
2. ``minescope serve --workers N`` on 127.0.0.1, and a closed loop of --users users (``console_load``'s
   client and loop), each rotating over: a free-text case search, filtered and sorted cases, a due-date
   range on a later page, a case search by address, the case list page (HTML) with a search, the findings
   list page (HTML) and a findings search by address, the tips page (HTML) and a tips search.
3. Alone, one at a time: the ledger of the whole country and of the largest province (through the API,
   to the last byte, three times each), and the rectification notice of a case with 200 findings
   (``notice_pdf``; the case is given 200 findings if none has that many), three times.

Prints a markdown table per endpoint (count, p50, p95, p99, max, errors) and the export times, and
writes benchmarks/results/console_lists.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import console_load as cl
from benchlib import RESULTS, BenchError, fail, machine_info
from sqlalchemy import Engine, func, insert, select, text

from minescope.outputs import fmt
from minescope.outputs.notice import notice_pdf
from minescope.store.accounts import add_user
from minescope.store.cases import case_findings, cases
from minescope.store.findings import findings, open_store
from minescope.store.tips import submit_tip

ENDPOINTS = ("cases_search", "cases_filtered", "cases_due_range", "cases_by_address", "cases_page_html",
             "findings_page_html", "findings_search", "tips_page_html", "tips_search")
NOTICE_FINDINGS = 200
TIP_WORDS = ("夜间机房噪声很大，疑似挖矿", "楼顶有大量矿机在运行", "用电量异常，整夜风扇轰鸣", "仓库里摆满显卡机器")


def add_tips(engine: Engine, n: int, rng: random.Random, now: float) -> int:
    with engine.connect() as conn:
        counties = list(conn.execute(select(cases.c.region_code).where(cases.c.region_code.is_not(None))
                                     .distinct()).scalars())
    for i in range(n):
        submit_tip(engine, rng.choice(counties), f"某单位{i}号楼", f"{rng.choice(TIP_WORDS)}（第 {i} 号举报）",
                   now=now - rng.uniform(0, 90) * cl.DAY)
    return n


def samples_of(engine: Engine, user: cl.VirtualUser, rng: random.Random) -> dict[str, str]:
    """Values a user of this area would search for: a county's name, an address, a due range."""
    prefix = cl.region_prefix(user.area)
    with engine.connect() as conn:
        where = [cases.c.region_code.like(f"{prefix}%")] if prefix else []
        title = conn.execute(select(cases.c.org_name).where(*where, cases.c.org_name.is_not(None))
                             .order_by(func.random()).limit(1)).scalar() or "局"
        address = conn.execute(select(findings.c.subject_ip).where(
            *([findings.c.region_code.like(f"{prefix}%")] if prefix else [])).order_by(func.random()).limit(1)
        ).scalar() or "10.0.0.1"
    today = datetime.now(fmt.CST).date()
    return {"word": title[: max(2, len(title) // 2)], "address": address,
            "due_from": (today - timedelta(days=20)).isoformat(), "due_to": (today + timedelta(days=20)).isoformat()}


def plan(user: cl.VirtualUser, s: dict[str, str]) -> list[tuple[str, str]]:
    q = urllib.parse.quote
    return [("cases_search", f"/api/cases?q={q(s['word'])}&limit=50"),
            ("cases_filtered", "/api/cases?state=assigned&org_type=enterprise&sort=updated&desc=true&limit=50"),
            ("cases_due_range", f"/api/cases?due_from={s['due_from']}&due_to={s['due_to']}&page=3&limit=50"),
            ("cases_by_address", f"/api/cases?address={s['address']}"),
            ("cases_page_html", f"/cases?q={q(s['word'])}&page=2"),
            ("findings_page_html", "/findings?page=2"),
            ("findings_search", f"/api/findings?q={s['address']}"),
            ("tips_page_html", "/tips"),
            ("tips_search", f"/api/tips?q={q('矿机')}&page=2")]


def timed_get(url: str, token: str) -> tuple[float, int, int]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as answer:
        size = len(answer.read())
        status = answer.status
    return time.perf_counter() - t0, status, size


def notice_case(engine: Engine, n: int) -> tuple[int, int]:
    """The case with the most findings, given findings of other cases until it has ``n``."""
    count = func.count().label("n")
    with engine.begin() as conn:
        case_id, have = conn.execute(select(case_findings.c.case_id, count).group_by(case_findings.c.case_id)
                                     .order_by(count.desc()).limit(1)).one()
        if have < n:
            more = conn.execute(select(findings.c.id).where(~findings.c.id.in_(
                select(case_findings.c.finding_id).where(case_findings.c.case_id == case_id)))
                .limit(n - have)).scalars().all()
            conn.execute(insert(case_findings), [{"case_id": case_id, "finding_id": f, "added_at": time.time()}
                                                 for f in more])
            have += len(more)
    return int(case_id), int(have)


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    now = time.time()
    drop = None
    if args.reuse:
        url = args.reuse
        engine = open_store(url)
        made: dict[str, Any] = {"reused": True}
        fill_s = 0.0
    else:
        url, drop = cl.scratch_database(args.pg)
        t0 = time.perf_counter()
        engine = open_store(url)
        made = cl.fill(engine, args.findings, args.cases, rng, now)
        made["tips"] = add_tips(engine, args.tips, rng, now)
        fill_s = time.perf_counter() - t0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    if args.reuse:  # accounts of an earlier run are there: these get names of their own
        tag = f"{int(now)}"
        cl.add_user = lambda e, name, *a, **k: add_user(e, f"{name}-{tag}", *a, **k)
    users = cl.make_users(engine, args.users)
    per_user = {u.name: plan(u, samples_of(engine, u, rng)) for u in users}
    shape = {**made, **cl.data_shape(engine, now)}
    with engine.connect() as conn:
        from minescope.store.tips import tips
        shape["tips_stored"] = conn.execute(select(func.count()).select_from(tips)).scalar_one()
    print(f"ready in {fill_s:.0f} s: {shape.get('findings', '?')} findings, {shape.get('cases', '?')} cases, "
          f"{shape['tips_stored']} tips; {args.users} users, {args.warmup:g} s warm-up + {args.duration:g} s …",
          file=sys.stderr)
    saved = cl.ENDPOINTS, cl.requests_of, cl.add_user
    cl.ENDPOINTS = ENDPOINTS  # type: ignore[assignment]  # console_load's loop and summary, with this benchmark's requests
    cl.requests_of = lambda user: list(per_user[user.name])
    proc = None
    try:
        proc, base = cl.start_server(url, args.workers)
        samples, problems, elapsed, cpu = asyncio.run(cl.load(base, users, args.warmup, args.duration, args.think,
                                                              cl.CpuMeter(proc.pid)))
        national = next(u for u in users if u.level == "national")
        province = next(u for u in users if u.level == "province")
        ledger: dict[str, Any] = {}
        for name, user in (("national", national), ("province", province)):
            times, size = [], 0
            for _ in range(3):
                seconds, status, size = timed_get(f"{base}/api/ledger.xlsx", user.token)
                if status != 200:
                    raise BenchError(f"ledger answered {status}")
                times.append(seconds)
            ledger[name] = {"area": user.area, "seconds": [round(t, 2) for t in times],
                            "median_s": round(statistics.median(times), 2), "bytes": size}
        cl.stop_server(proc)
        proc = None
        case_id, n = notice_case(engine, NOTICE_FINDINGS)
        notice_times = []
        for _ in range(3):
            t0 = time.perf_counter()
            pdf = notice_pdf(engine, case_id, issuer="江苏省发展和改革委员会")
            notice_times.append(time.perf_counter() - t0)
        with engine.connect() as conn:
            cases_in_ledger = conn.execute(select(func.count()).select_from(cases)).scalar_one()
        engine.dispose()
        result = cl.summarise(samples, elapsed)
    finally:
        cl.ENDPOINTS, cl.requests_of, cl.add_user = saved
        if proc is not None:
            cl.stop_server(proc)
        if drop is not None and not args.keep:
            drop()
    if args.keep and drop is not None:
        print(f"kept: {url}", file=sys.stderr)
    return {"fill_seconds": round(fill_s, 1), "data": shape, "problems": problems, "cpu": cpu,
            "ledger": {**ledger, "cases_national": cases_in_ledger},
            "notice": {"case": case_id, "findings": n, "seconds": [round(t, 2) for t in notice_times],
                       "median_s": round(statistics.median(notice_times), 2), "bytes": len(pdf)},
            **result}


def _with_endpoints(f: Any, arg: Any) -> Any:
    """``console_load``'s summaries, over this benchmark's endpoints."""
    saved, cl.ENDPOINTS = cl.ENDPOINTS, ENDPOINTS  # type: ignore[assignment]
    try:
        return f(arg)
    finally:
        cl.ENDPOINTS = saved


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--pg", default=os.environ.get("MINESCOPE_TEST_PG", ""),
                    help="SQLAlchemy URL of a PostgreSQL role that may create databases (default: $MINESCOPE_TEST_PG)")
    ap.add_argument("--findings", type=int, default=100_000, help="findings to store (default %(default)s)")
    ap.add_argument("--cases", type=int, default=10_000, help="cases to make (default %(default)s)")
    ap.add_argument("--tips", type=int, default=5_000, help="public reports (default %(default)s)")
    ap.add_argument("--users", type=int, default=20, help="concurrent virtual users (default %(default)s)")
    ap.add_argument("--duration", type=float, default=60, help="seconds measured (default %(default)s)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring (default %(default)s)")
    ap.add_argument("--think", type=float, default=0.0, help="seconds between answer and next request")
    ap.add_argument("--workers", type=int, default=3, help="console processes (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    ap.add_argument("--reuse", default="", help="a database filled before (with --keep): no new one")
    ap.add_argument("--keep", action="store_true", help="keep the new database (dropped by default)")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "console_lists.json",
                    help="JSON results (default: %(default)s)")
    args = ap.parse_args(argv)
    if not args.pg and not args.reuse:
        fail("give a PostgreSQL URL with --pg or MINESCOPE_TEST_PG")
    try:
        run = one_run(args)
    except BenchError as e:
        fail(str(e))
    result = {"machine": machine_info(),
              "parameters": {k: v for k, v in vars(args).items() if k not in ("pg", "output", "keep", "reuse")},
              "server": {"workers": args.workers, "host": "127.0.0.1"},
              "median": _with_endpoints(cl.medians, [run]), **run}
    print(_with_endpoints(cl.markdown, result))
    led, notice = run["ledger"], run["notice"]
    print(f"\n{args.duration:g} s, {args.users} users, {args.workers} worker(s); throughput {run['throughput_rps']} "
          f"requests/s. Ledger ({led['cases_national']} cases): national {led['national']['median_s']} s "
          f"({led['national']['bytes']:,} bytes), province {led['province']['area']} {led['province']['median_s']} s. "
          f"Notice of {notice['findings']} findings: {notice['median_s']} s (runs {notice['seconds']}).")
    for p in run["problems"][:5]:
        print(f"problem: {p}", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"written: {args.output}")
    return result


if __name__ == "__main__":
    main()
