"""The console under load: the case list and the dashboard on PostgreSQL, many users at once.

    python benchmarks/console_load.py [--pg URL] [--findings 100000] [--cases 10000] [--users 20]
                                      [--duration 60] [--warmup 5] [--workers 3] [--runs 1] [--think 0]

1. Creates a fresh database on the server of --pg (default: $MINESCOPE_TEST_PG; the role must be
   allowed to create databases) and fills it through the store code:
   - findings: the real findings of scanning samples/pcap, copied onto new hosts, times, places and
     organisations, saved with ``save_scan`` in scans of 5,000. Places are GB/T 2260 counties,
     skewed: a few provinces, and a few cities in each, hold most of the findings;
   - cases: the mining-related findings grouped by subject as ``sync_cases`` groups them (the
     organisation, else the host), one case per subject, with a mix of states, owners and due dates
     (some overdue), and their hash-chained history, inserted in bulk;
   - one account with an API token per virtual user, at national, province, city and county level
     in turn, each over an area that holds data.
   Then VACUUM ANALYZE, as autovacuum would within a minute or so of such a bulk load.
2. Starts the console (uvicorn, ``create_app``) in a subprocess on 127.0.0.1 with --workers
   processes, as ``uvicorn --workers`` does but with TCP_NODELAY kept (see ``serve``).
3. Closed loop: each virtual user sends a request, waits for the answer (and --think seconds), and
   sends the next, for --warmup seconds unrecorded and then --duration seconds recorded. Requests
   rotate over: the case list's first page, the overdue cases, the case list page (HTML), the
   dashboard of the user's area and a drill-down into a part of it.
   The CPU time of the console, PostgreSQL, the load generator and the whole machine over the
   measured seconds is recorded (``CpuMeter``); afterwards one dashboard per level is timed alone,
   computed afresh and from kept figures.
4. Prints a markdown table (count, p50, p95, p99, max, errors per endpoint) and writes
   benchmarks/results/console_load.json with every run, the data shape and the machine facts.
   --runs repeats steps 1-3 on a new database each time and reports the medians.

The load generator runs on the same machine as the server and PostgreSQL and competes with them
for the same cores; latencies are measured by the client, so they include its own delays.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import ipaddress
import itertools
import json
import math
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from benchlib import CORPUS, RESULTS, ROOT, BenchError, fail, machine_info
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from minescope.cases import history
from minescope.cases.dashboard import dashboard
from minescope.cases.workflow import case_kinds
from minescope.knowledge.regions import Division, divisions
from minescope.model import Attribution, Finding, InputSummary, ScanResult
from minescope.store.accounts import add_user, new_token, region_prefix
from minescope.store.cases import case_findings, case_history, cases
from minescope.store.findings import findings, open_store, save_scan

DAY = 86400.0
PASSWORD = "load-test-password"
LEVELS = ("national", "province", "city", "county")
ENDPOINTS = ("cases_first_page", "cases_overdue", "cases_page_html", "dashboard_area", "dashboard_drill_down")
# Provinces named by the 2021 crackdown first (Jiangsu's survey, Inner Mongolia, Xinjiang, Sichuan,
# Qinghai, Yunnan), then the rest; the province of rank r gets a weight ∝ 1 / r^1.1.
HEAVY_PROVINCES = ("320000", "150000", "650000", "510000", "630000", "530000", "130000", "140000")
ORG_TYPES = {"enterprise": 30, "datacenter": 20, "government": 10, "university": 10, "state_owned": 8,
             "research": 4, "residential": 18}
ORG_WORDS = {"enterprise": "科技有限公司", "datacenter": "大数据中心", "government": "局", "university": "大学",
             "state_owned": "集团公司", "research": "研究所"}
STATES = {"new": 25, "assigned": 20, "notice_issued": 12, "rectifying": 15, "verified": 8, "closed": 20}
PATH = ("assigned", "notice_issued", "rectifying", "verified")


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


# ---------------------------------------------------------------- places

@dataclass(frozen=True)
class Place:
    county: Division
    city: Division
    province: Division


class Places:
    """Counties drawn with a skew: Zipf over provinces, over cities in a province, over counties in a city."""

    def __init__(self, rng: random.Random) -> None:
        all_div = divisions()
        kids: dict[str, list[Division]] = defaultdict(list)
        for d in all_div.values():
            if d.parent:
                kids[d.parent].append(d)
        provinces = [d.code for d in all_div.values()  # those with counties (not Taiwan, Hong Kong, Macao)
                     if d.level == "province" and any(kids[c.code] for c in kids[d.code])]
        rest = sorted(set(provinces) - set(HEAVY_PROVINCES))
        rng.shuffle(rest)
        order = [p for p in HEAVY_PROVINCES if p in provinces] + rest
        self.rng, self.kids, self.all = rng, kids, all_div
        self.provinces = order
        self.province_weights = self._cumulative(len(order), 1.1)
        self.city_order = {p: self._shuffled([c for c in kids[p] if kids[c.code]]) for p in order}
        self.county_order = {c.code: self._shuffled(kids[c.code]) for p in order for c in self.city_order[p]}

    def _shuffled(self, items: list[Division]) -> list[Division]:
        items = sorted(items, key=lambda d: d.code)
        self.rng.shuffle(items)
        return items

    @staticmethod
    def _cumulative(n: int, s: float) -> list[float]:
        return list(itertools.accumulate(1 / (r + 1) ** s for r in range(n)))

    def _zipf(self, items: list[Division], s: float) -> Division:
        cum = self._cumulative(len(items), s)
        return items[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def draw(self) -> Place:
        cum = self.province_weights
        province = self.all[self.provinces[bisect.bisect(cum, self.rng.random() * cum[-1])]]
        city = self._zipf(self.city_order[province.code], 1.0)
        county = self._zipf(self.county_order[city.code], 0.8)
        return Place(county, city, province)


# ---------------------------------------------------------------- data

@dataclass
class Subject:
    """Who a case is about: an organisation with a few hosts, or one host."""

    place: Place
    org_name: str | None
    org_type: str
    hosts: list[str]

    @property
    def key(self) -> str:
        return f"org:{self.org_name}" if self.org_name else f"ip:{self.hosts[0]}"


@cache
def real_findings() -> list[Finding]:
    """The findings of scanning the bundled corpus: the templates every stored finding is copied from."""
    from minescope.pipeline import Scanner

    found = Scanner().scan([CORPUS]).findings
    if not found:
        raise BenchError(f"{CORPUS}: scanning gave no findings to copy")
    return found


def make_subjects(n: int, places: Places, rng: random.Random, addresses: itertools.count[int]) -> list[Subject]:
    out = []
    names: Counter[str] = Counter()
    for _ in range(n):
        place = places.draw()
        org_type = pick(rng, ORG_TYPES)
        if org_type == "residential":  # households: a case per address
            out.append(Subject(place, None, org_type, [str(ipaddress.IPv4Address(next(addresses)))]))
            continue
        base = f"{place.county.name}{ORG_WORDS[org_type]}"
        names[base] += 1
        name = base if names[base] == 1 else f"{place.county.name}第{names[base]}{ORG_WORDS[org_type]}"
        hosts = [str(ipaddress.IPv4Address(next(addresses))) for _ in range(rng.choice((1, 1, 2, 3, 5)))]
        out.append(Subject(place, name, org_type, hosts))
    return out


def vary(t: Finding, subject: Subject, when: float, rng: random.Random) -> Finding:
    """A copy of a real finding, moved to another host, time and place, its hash rate scaled."""
    ip, old, shift = rng.choice(subject.hosts), t.subject_ip, when - t.first_seen
    port = rng.randrange(1024, 65535)
    flows = tuple(replace(f, src_ip=ip if f.src_ip == old else f.src_ip, dst_ip=ip if f.dst_ip == old else f.dst_ip,
                          src_port=port if f.src_ip == old else f.src_port, first_seen=f.first_seen + shift,
                          last_seen=f.last_seen + shift) for f in t.flows)
    p = subject.place
    attribution = Attribution(ip=ip, country="中国", province=p.province.name, city=p.city.name, isp="中国电信",
                              org_name=subject.org_name, org_type=subject.org_type, region_code=p.county.code,
                              source="registry" if subject.org_name else "ip2region")
    k = rng.lognormvariate(0, 1.0)  # rigs from one card to a small farm
    mining = t.mining
    if mining is not None:
        mining = replace(mining, hashrate=mining.hashrate and replace(mining.hashrate, hps=mining.hashrate.hps * k),
                         reported_hashrate=mining.reported_hashrate
                         and replace(mining.reported_hashrate, hps=mining.reported_hashrate.hps * k))
    energy = t.energy and replace(t.energy, kw=tuple(x * k for x in t.energy.kw),  # type: ignore[arg-type]
                                  kwh_per_day=tuple(x * k for x in t.energy.kwh_per_day))
    return replace(t, subject_ip=ip, flows=flows, attribution=attribution, mining=mining, energy=energy)


def fill(engine: Engine, n_findings: int, n_cases: int, rng: random.Random, now: float) -> dict[str, Any]:
    """Findings through save_scan, cases and their history in bulk, as sync_cases and the workflow make them."""
    templates = real_findings()
    case_t = [f for f in templates if f.kind in case_kinds()]
    other_t = [f for f in templates if f.kind not in case_kinds()]
    places = Places(rng)
    addresses = itertools.count(int(ipaddress.IPv4Address("36.96.0.0")))
    subjects = make_subjects(n_cases, places, rng, addresses)
    nodes = make_subjects(max(1, n_cases // 5), places, rng, addresses)  # node hosts: findings, no cases
    # every subject gets one finding, the rest go to subjects with a heavy tail
    weights = list(itertools.accumulate(min(rng.paretovariate(1.2), 100.0) for _ in subjects))
    per_case: dict[int, list[tuple[float, str]]] = defaultdict(list)
    n_case_kind = round(n_findings * len(case_t) / len(templates)) if other_t else n_findings
    n_case_kind = max(n_case_kind, n_cases)
    seen: set[str] = set()
    batch: list[Finding] = []
    made = 0
    for i in range(n_findings):
        if i < n_case_kind:
            s = i if i < len(subjects) else bisect.bisect(weights, rng.random() * weights[-1])
            subject, template = subjects[s], rng.choice(case_t)
        else:
            s, subject, template = -1, rng.choice(nodes), rng.choice(other_t)
        when = now - 365 * DAY * rng.random() ** 1.5  # more of them recent
        f = vary(template, subject, when, rng)
        if f.id in seen:
            continue
        seen.add(f.id)
        if s >= 0:
            per_case[s].append((f.first_seen, f.id))
        batch.append(f)
        if len(batch) == 5000 or i == n_findings - 1:
            save_scan(engine, ScanResult(inputs=[InputSummary(path=f"load-{made}.pcap", format="pcap")],
                                         findings=batch, started_at=now, wall_seconds=1.0))
            made += len(batch)
            batch = []
    n_history = make_cases(engine, subjects, per_case, rng, now)
    return {"findings": made, "case_findings": sum(len(v) for v in per_case.values()), "cases": len(per_case),
            "history_rows": n_history}


def make_cases(engine: Engine, subjects: list[Subject], per_case: dict[int, list[tuple[float, str]]],
               rng: random.Random, now: float) -> int:
    """One case per subject (as sync_cases: fields from its earliest finding), then a walk through the workflow."""
    rows, events = [], []
    for s, found in sorted(per_case.items()):
        subject, place = subjects[s], subjects[s].place
        t = created = min(min(found)[0] + rng.uniform(600, 3 * DAY), now - 60)  # synced after its scan
        state = pick(rng, STATES)
        values: dict[str, Any] = {"state": "new", "owner": None, "due_at": None, "closing_reason": None, "reopened": 0}
        steps = [("create", t, dict(values))]
        if state != "new":
            t = max(t + 600, now - rng.uniform(1, 40) * DAY)  # assigned in the last weeks
            values.update(state="assigned", owner=f"officer-{place.city.code}-{rng.randrange(4)}",
                          due_at=round(t + rng.choice((7, 14, 30)) * DAY))
            steps.append(("assign", t, dict(values)))
            last = PATH.index(state) if state in PATH else rng.choice((0, 2, 3))
            for step in PATH[1 : last + 1]:
                t = min(t + rng.uniform(0.5, 6) * DAY, now - 1)
                values["state"] = step
                steps.append((step, t, dict(values)))
            if state == "closed":
                reason = (rng.choice(("cleared", "hijacked_host_cleaned")) if values["state"] == "verified"
                          else rng.choice(("false_positive", "handed_to_police")))
                t = min(t + rng.uniform(0.5, 6) * DAY, now - 1)
                values.update(state="closed", closing_reason=reason)
                steps.append(("close", t, dict(values)))
        before: dict[str, Any] = {}
        for action, at, after in steps:
            events.append((at, s, action, before, after))
            before = after
        rows.append({"subject_key": subject.key, "title": subject.org_name or subject.hosts[0],
                     "org_name": subject.org_name, "org_type": subject.org_type, "region_code": place.county.code,
                     "province": place.province.name, "city": place.city.name, **values, "created_at": created,
                     "updated_at": t})
    with engine.begin() as conn:
        for i in range(0, len(rows), 2000):
            conn.execute(insert(cases), rows[i : i + 2000])
        ids = dict(conn.execute(select(cases.c.subject_key, cases.c.id)).all())
        links = [{"case_id": ids[subjects[s].key], "finding_id": fid, "added_at": t}
                 for s, found in per_case.items() for t, fid in found]
        for i in range(0, len(links), 10000):
            conn.execute(insert(case_findings), links[i : i + 10000])
        prev, chain = history.GENESIS, []
        for at, s, action, before, after in sorted(events, key=lambda e: (e[0], e[1])):
            at = round(at, 6)
            actor = "system" if action == "create" else after["owner"]
            digest = history.row_hash(prev, ids[subjects[s].key], at, actor, action, before, after)
            chain.append({"case_id": ids[subjects[s].key], "at": at, "actor": actor, "action": action,
                          "before": before, "after": after, "prev_hash": prev, "hash": digest})
            prev = digest
        for i in range(0, len(chain), 5000):
            conn.execute(insert(case_history), chain[i : i + 5000])
    return len(chain)


# ---------------------------------------------------------------- users

@dataclass
class VirtualUser:
    name: str
    level: str
    area: str  # the account's GB/T 2260 code ("" national)
    drill: str  # a code inside the area to drill down to
    token: str = ""


def make_users(engine: Engine, n: int) -> list[VirtualUser]:
    """Level by turn (national, province, city, county); areas among those with the most findings."""
    with engine.connect() as conn:
        counties = Counter(dict(conn.execute(select(findings.c.region_code, func.count())
                                             .where(findings.c.region_code.is_not(None))
                                             .group_by(findings.c.region_code)).all()))
    by_len: dict[int, Counter[str]] = {2: Counter(), 4: Counter(), 6: counties}
    for code, count in counties.items():
        by_len[2][code[:2]] += count
        by_len[4][code[:4]] += count
    ranked = {k: [c for c, _ in v.most_common()] for k, v in by_len.items()}

    def inside(prefix: str, turn: int) -> str:
        kids = [c for c in ranked[min(len(prefix) + 2, 6)] if c.startswith(prefix)]
        return kids[turn % len(kids)] if kids else prefix

    users = []
    for i in range(n):
        level, turn = LEVELS[i % 4], i // 4
        areas = ranked[{"national": 2, "province": 2, "city": 4, "county": 6}[level]]
        prefix = "" if level == "national" else areas[turn % len(areas)]
        area = prefix.ljust(6, "0") if prefix else ""
        drill = inside(prefix, turn) if level != "county" else prefix
        user = VirtualUser(f"load-{level}-{i}", level, area, drill)
        account = add_user(engine, user.name, PASSWORD, "analyst" if i % 2 else "viewer", area,
                           national=not area)
        user.token = new_token(engine, account)
        users.append(user)
    return users


# ---------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MINESCOPE_SECRET": secrets.token_urlsafe(24)}
    cmd = [sys.executable, "-m", "minescope", "serve", "--db", db_url, "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)  # the console exactly as users start it
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the console exited with {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{base}/login", timeout=2) as answer:
                if answer.status == 200:
                    return proc, base
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise BenchError("the console did not answer within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- load

def requests_of(user: VirtualUser) -> list[tuple[str, str]]:
    return [("cases_first_page", "/api/cases?limit=50"),
            ("cases_overdue", "/api/cases?overdue=true&limit=50"),
            ("cases_page_html", "/cases?limit=50"),
            ("dashboard_area", "/api/dashboard"),
            ("dashboard_drill_down", f"/api/dashboard?region={user.drill.ljust(6, '0')}")]


class Client:
    """One keep-alive HTTP/1.1 connection, kept lean: the load generator shares the cores it measures
    (httpx took about 3.5 ms of CPU per request here, this about a tenth of that). It sends what a
    browser would (Accept-Encoding: gzip) and times each answer to its last byte, left compressed."""

    def __init__(self, base: str, token: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.head = (f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
                     "Accept-Encoding: gzip\r\n\r\n").encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> int:
        """The answer's status (0: no answer)."""
        try:
            return await asyncio.wait_for(self._get(path), 30)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            return 0

    async def _get(self, path: str) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head)
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        length = head.find(b"\r\ncontent-length:")
        if length < 0:
            raise ValueError("answer without content-length")
        await reader.readexactly(int(head[length + 17 : head.index(b"\r\n", length + 2)]))
        if b"\r\nconnection: close" in head:
            self.close()
        return status

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def one_user(base: str, user: VirtualUser, start: float, record_from: float, stop: float, think: float,
                   samples: list[tuple[str, str, float, int]], problems: list[str], seed: int) -> None:
    rng = random.Random(seed)
    plan = requests_of(user)
    client = Client(base, user.token)
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    warm = True
    while time.perf_counter() < stop:
        rng.shuffle(plan)
        for endpoint, path in plan:
            t0 = time.perf_counter()
            if t0 >= stop:
                break
            if warm and t0 >= record_from:
                # connect again: the workers that were still starting during the warm-up get their share
                client.close()
                warm = False
            status = await client.get(path)
            t1 = time.perf_counter()
            if status != 200 and len(problems) < 20:
                problems.append(f"{endpoint} {path}: " + (f"HTTP {status}" if status else "no answer"))
            if t0 >= record_from:
                samples.append((endpoint, user.level, t1 - t0, status))
            if think:
                await asyncio.sleep(think)
    client.close()


class CpuMeter:
    """CPU seconds spent during the measured window by the console's processes (each worker apart),
    by PostgreSQL's (all of its processes: other databases' work counts too), by this load generator,
    and by the whole machine; what is left is other work on the machine. Linux (/proc) only."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def _stat(self, pid: int | str) -> list[str]:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()

    def _cpu(self, pid: int | str) -> float:
        try:
            fields = self._stat(pid)
        except OSError:  # gone
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self.tick

    def _pids(self) -> list[str]:
        return [p for p in os.listdir("/proc") if p.isdigit()]

    def snapshot(self) -> dict[str, Any]:
        pids = self._pids()
        workers, postgres = [], 0.0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
                parent = self._stat(pid)[1]
            except OSError:
                continue
            if comm == "postgres":
                postgres += self._cpu(pid)
            elif parent == str(self.server_pid):
                workers.append(self._cpu(pid))
        with open("/proc/stat") as f:
            jiffies = [int(x) for x in f.readline().split()[1:]]
        usage = os.times()
        return {"workers": sorted(workers), "server": self._cpu(self.server_pid) + sum(workers),
                "postgres": postgres, "load_generator": usage.user + usage.system,
                "machine_busy": (sum(jiffies) - jiffies[3] - jiffies[4]) / self.tick}

    @staticmethod
    def report(before: dict[str, Any], after: dict[str, Any], seconds: float, requests: int) -> dict[str, Any]:
        spent = {k: after[k] - before[k] for k in ("server", "postgres", "load_generator", "machine_busy")}
        spent["other"] = spent["machine_busy"] - spent["server"] - spent["postgres"] - spent["load_generator"]
        out: dict[str, Any] = {f"{k}_cores": round(v / seconds, 2) for k, v in spent.items()}
        out.update({f"{k}_ms_per_request": round(v / requests * 1000, 2) for k, v in spent.items()
                    if k in ("server", "postgres", "load_generator") and requests})
        if len(before["workers"]) == len(after["workers"]):
            out["worker_cores"] = [round((b - a) / seconds, 2) for a, b in zip(before["workers"], after["workers"],
                                                                                 strict=True)]
        return out


async def load(base: str, users: list[VirtualUser], warmup: float, duration: float, think: float,
               meter: CpuMeter | None = None) -> tuple[list[tuple[str, str, float, int]], list[str], float,
                                                       dict[str, Any]]:
    samples: list[tuple[str, str, float, int]] = []
    problems: list[str] = []
    start = time.perf_counter() + 0.2
    record_from, stop = start + warmup, start + warmup + duration
    cpu: dict[str, Any] = {}

    async def measure_cpu() -> None:
        if meter is None:
            return
        await asyncio.sleep(record_from - time.perf_counter())
        before, t0 = meter.snapshot(), time.perf_counter()
        await asyncio.sleep(stop - time.perf_counter())
        seconds = time.perf_counter() - t0
        cpu.update(meter.report(before, meter.snapshot(), seconds, len(samples)))
        cpu["loadavg_1min_after"] = round(os.getloadavg()[0], 2)

    await asyncio.gather(measure_cpu(), *(one_user(base, u, start + 0.05 * i, record_from, stop, think, samples,
                                                    problems, i) for i, u in enumerate(users)))
    return samples, problems, time.perf_counter() - record_from, cpu


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the samples at or below it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def stats(latencies: list[float], errors: int) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies)
    if not ms:
        return {"count": 0, "errors": errors}
    return {"count": len(ms), "errors": errors, "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1), "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(ms[-1], 1), "mean_ms": round(statistics.fmean(ms), 1)}


def summarise(samples: list[tuple[str, str, float, int]], elapsed: float) -> dict[str, Any]:
    def group(keep: Any) -> dict[str, Any]:
        chosen = [s for s in samples if keep(s)]
        return stats([s[2] for s in chosen if s[3] == 200], sum(s[3] != 200 for s in chosen))

    return {"seconds": round(elapsed, 2), "requests": len(samples),
            "throughput_rps": round(len(samples) / elapsed, 1) if elapsed > 0 else None,
            "all": group(lambda s: True),
            "endpoints": {e: group(lambda s, e=e: s[0] == e) for e in ENDPOINTS},
            "by_level": {e: {lv: group(lambda s, e=e, lv=lv: s[0] == e and s[1] == lv) for lv in LEVELS}
                         for e in ENDPOINTS}}


# ---------------------------------------------------------------- one run, many runs

def scratch_database(server_url: str) -> tuple[str, Any]:
    """A new, empty database on the server of ``server_url``; returns its URL and a function dropping it."""
    name = f"minescope_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop


def data_shape(engine: Engine, now: float) -> dict[str, Any]:
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(findings.c.kind, func.count()).group_by(findings.c.kind)).all())
        states = dict(conn.execute(select(cases.c.state, func.count()).group_by(cases.c.state)).all())
        overdue = conn.execute(select(func.count()).select_from(cases).where(
            cases.c.state != "closed", cases.c.due_at < now)).scalar_one()
        province = func.substr(findings.c.region_code, 1, 2).label("province")  # by name: one parameter
        provinces = conn.execute(select(province, func.count()).group_by(province)
                                 .order_by(func.count().desc())).all()
        places = conn.execute(select(func.count(func.distinct(findings.c.region_code)))).scalar_one()
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    total = sum(kinds.values())
    return {"findings_by_kind": kinds, "cases_by_state": states, "overdue_cases": overdue,
            "counties_with_findings": places, "provinces_with_findings": len(provinces),
            "top_provinces_share": {p: round(n / total, 3) for p, n in provinces[:5]},
            "database_mb": round(size / 2**20, 1)}


def one_run(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    now = time.time()
    url, drop = scratch_database(args.pg)
    proc = None
    try:
        t0 = time.perf_counter()
        engine = open_store(url)
        made = fill(engine, args.findings, args.cases, rng, now)
        users = make_users(engine, args.users)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does within a minute or so of a bulk load
        fill_s = time.perf_counter() - t0
        shape = {**made, **data_shape(engine, now)}
        engine.dispose()
        print(f"filled in {fill_s:.0f} s: {made['findings']:,} findings, {made['cases']:,} cases; "
              f"load: {args.users} users, {args.warmup:g} s warm-up + {args.duration:g} s …", file=sys.stderr)
        proc, base = start_server(url, args.workers)
        samples, problems, elapsed, cpu = asyncio.run(load(base, users, args.warmup, args.duration, args.think,
                                                           CpuMeter(proc.pid)))
        stop_server(proc)
        proc = None
        fresh = fresh_dashboards(url, users)
    finally:
        if proc is not None:
            stop_server(proc)
        if not args.keep:
            drop()
    return {"seed": seed, "fill_seconds": round(fill_s, 1), "data": shape,
            "users": [{"level": u.level, "area": u.area, "drill_down": u.drill} for u in users],
            "problems": problems, "cpu": cpu, "dashboard_alone": fresh, **summarise(samples, elapsed)}


def fresh_dashboards(url: str, users: list[VirtualUser]) -> dict[str, dict[str, float]]:
    """Milliseconds of one dashboard per level, computed afresh in a new process's engine (as the first
    request after new findings is), then again from the kept figures; one request at a time."""
    out = {}
    for level in LEVELS:
        user = next((u for u in users if u.level == level), None)
        if user is None:
            continue
        engine = open_store(url)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            dashboard(engine, region_prefix(user.area))
            times.append(round((time.perf_counter() - t0) * 1000, 1))
        engine.dispose()
        out[level] = {"fresh_ms": times[0], "kept_ms": times[1]}
    return out


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for e in ENDPOINTS:
        figures = [r["endpoints"][e] for r in runs if r["endpoints"][e].get("count")]
        out[e] = {k: round(statistics.median(f[k] for f in figures), 1)
                  for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")} if figures else {}
        out[e]["count"] = sum(r["endpoints"][e]["count"] for r in runs)
        out[e]["errors"] = sum(r["endpoints"][e]["errors"] for r in runs)
    return out


def markdown(result: dict[str, Any]) -> str:
    rows = ["| endpoint | requests (all runs) | p50 ms | p95 ms | p99 ms | max ms | errors |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for e in ENDPOINTS:
        m = result["median"][e]
        if "p95_ms" not in m:
            rows.append(f"| {e} | 0 | | | | | {m['errors']} |")
            continue
        rows.append(f"| {e} | {m['count']:,} | {m['p50_ms']:.0f} | {m['p95_ms']:.0f} | {m['p99_ms']:.0f} | "
                    f"{m['max_ms']:.0f} | {m['errors']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg", default=os.environ.get("MINESCOPE_TEST_PG", ""),
                    help="SQLAlchemy URL of a PostgreSQL role that may create databases "
                         "(default: $MINESCOPE_TEST_PG)")
    ap.add_argument("--findings", type=int, default=100_000, help="findings to store (default %(default)s)")
    ap.add_argument("--cases", type=int, default=10_000, help="cases to make (default %(default)s)")
    ap.add_argument("--users", type=int, default=20, help="concurrent virtual users (default %(default)s)")
    ap.add_argument("--duration", type=float, default=60, help="seconds measured (default %(default)s)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring (default %(default)s)")
    ap.add_argument("--think", type=float, default=0.0,
                    help="seconds each user waits between answer and next request (default %(default)s)")
    ap.add_argument("--workers", type=int, default=3,
                    help="console processes (default %(default)s: on 2 cores, one more than cores)")
    ap.add_argument("--runs", type=int, default=1, help="runs, each on a new database (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="first run's random seed (default %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the databases (they are dropped by default)")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "console_load.json",
                    help="JSON results (default: %(default)s)")
    args = ap.parse_args(argv)
    if not args.pg:
        fail("give a PostgreSQL URL with --pg or MINESCOPE_TEST_PG")
    if min(args.findings, args.cases, args.users, args.runs, args.workers) < 1 or args.cases > args.findings:
        fail("--findings, --cases, --users, --runs and --workers must be at least 1, and cases ≤ findings")
    runs = []
    try:
        for k in range(args.runs):
            print(f"run {k + 1}/{args.runs} …", file=sys.stderr)
            runs.append(one_run(args, args.seed + k))
    except BenchError as e:
        fail(str(e))
    result = {"machine": machine_info(),
              "parameters": {k: v for k, v in vars(args).items() if k not in ("pg", "output", "keep")},
              "server": {"workers": args.workers, "host": "127.0.0.1", "app": "minescope.web.app:create_app"},
              "median": medians(runs), "runs": runs}
    print(markdown(result))
    print(f"\n{args.runs} run(s) of {args.duration:g} s, {args.users} users, {args.workers} worker(s); medians "
          f"over runs; throughput {', '.join(str(r['throughput_rps']) for r in runs)} requests/s.")
    for r in runs:
        c = r["cpu"]
        if c:
            print(f"cores busy: console {c['server_cores']} (workers {c.get('worker_cores', '?')}), PostgreSQL "
                  f"{c['postgres_cores']}, load generator {c['load_generator_cores']}, other work on the machine "
                  f"{c['other_cores']}; CPU ms per request: console {c['server_ms_per_request']}, PostgreSQL "
                  f"{c['postgres_ms_per_request']}, load generator {c['load_generator_ms_per_request']}")
        alone = ", ".join(f"{lv} {v['fresh_ms']:.0f}/{v['kept_ms']:.0f}" for lv, v in r["dashboard_alone"].items())
        print(f"one dashboard alone, computed afresh / from kept figures, ms: {alone}")
        for p in r["problems"][:5]:
            print(f"problem: {p}", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"written: {args.output}")
    return result


if __name__ == "__main__":
    main()
