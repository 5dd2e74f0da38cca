"""facts: what host evidence says without a rule language — miner files found by YARA, by hash or as a
miner's configuration, and processes talking to pools the intelligence knows; then one ``mining_host`` per
machine summing its findings with the machine's tuning (huge pages reserved with the msr module loaded).

Signals and their weight:
- ``miner_binary``: a program (ELF, PE, Mach-O) that a YARA rule or a miner hash list names (0.9); a script
  that a YARA rule names (0.6: droppers, but also installers and documentation); a JSON configuration with
  pools (``config:pool=``), 0.8.
- ``miner_process`` from connections: a process connected to an address or name the pool lists, learned
  pools or confirmed pools hold (0.9), with the pool it reached.
- ``mining_host``: every machine with a mining finding of the above or of the Sigma rules (``sigma``); its
  evidence sums them, and adds huge pages with msr (RandomX tuning) and the busiest process when the
  resources table has them. Confidence: the highest of its parts.
False positives: security tools keep YARA-named samples (quarantine folders), hash lists carry the odd
benign file; a listed pool address can be shared hosting. Each finding names the rule, list or intel entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.host.kinds import MINER_BINARY, MINER_PROCESS, MINING_HOST
from minescope.dimensions.host.tables import host_of
from minescope.knowledge.host import miner_hashes
from minescope.knowledge.pools import PoolIntel
from minescope.model import Dimension, Evidence, Finding, Subject, SubjectType, Text

PROGRAMS = ("elf", "pe", "macho")


def _epoch(ts: Any) -> float:
    """A ``ts`` cell (a UTC datetime from Arrow) as epoch seconds."""
    return float(ts.timestamp()) if hasattr(ts, "timestamp") else float(ts)


def file_findings(files: pa.Table | None, source: str) -> list[Finding]:
    """``miner_binary`` findings of the files table: one per (host, path, sha256)."""
    if files is None or files.num_rows == 0:
        return []
    hashes = miner_hashes()
    # only rows with a match or a listed hash reach Python: a fleet's reports hold millions of clean files
    hashed = pc.is_in(pc.utf8_lower(files["sha256"]), value_set=pa.array(list(hashes)))
    named = pc.greater(pc.fill_null(pc.list_value_length(files["matches"]), 0), 0)
    out = []
    for row in files.filter(pc.or_(pc.fill_null(hashed, False), named)).to_pylist():
        matches = list(row.get("matches") or [])
        listed = hashes.get((row.get("sha256") or "").lower())
        if listed:
            matches.append(listed)
        rules = [m for m in matches if m.startswith(("yara:", "hash:"))]
        pools = [m.split("=", 1)[1] for m in matches if m.startswith("config:pool=")]
        wallets = [m.split("=", 1)[1] for m in matches if m.startswith("config:user=")]
        kind = row.get("file_type")
        if rules and (kind in PROGRAMS or listed):
            confidence = 0.9
        elif rules and kind == "script":
            confidence = 0.6
        elif pools:
            confidence = 0.8
        else:
            continue
        path = row["path"]
        what = ", ".join(rules) or ", ".join(f"pool {p}" for p in pools)
        out.append(Finding(
            kind=MINER_BINARY, subject_ip=None, peer=None, flows=(), confidence=confidence,
            severity=MINER_BINARY.severity, dimension=Dimension.HOST,
            subject=Subject(SubjectType.HOST, host_of(row["host"], row.get("input"))), first_seen=_epoch(row["ts"]),
            last_seen=_epoch(row["ts"]),
            reasons=(Text(zh=f"矿工文件 {path}（{what}）", en=f"miner file {path} ({what})"),),
            evidence=(Evidence("file", f"{path} {what}", {
                "path": path, "sha256": row.get("sha256"), "size": row.get("size"), "file_type": kind,
                "rules": rules, "pools": pools, "wallets": wallets}, row.get("event") or "host"),),
            source=row.get("input") or source, key=f"{path}|{row.get('sha256') or ''}"))
    return out


def connection_findings(connections: pa.Table | None, intel: PoolIntel, source: str) -> list[Finding]:
    """``miner_process`` findings of processes connected to a known pool: one per (host, image, pool)."""
    if connections is None or connections.num_rows == 0:
        return []
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    # each distinct endpoint is looked up once, and only the rows of matched ones reach Python
    endpoints = connections.group_by(["remote_name", "remote_ip", "remote_port"]).aggregate([]).to_pylist()
    known = {(e["remote_name"], e["remote_ip"], e["remote_port"]): m for e in endpoints
             if (m := _endpoint_match(intel, e["remote_name"], e["remote_ip"], e["remote_port"])) is not None}
    if not known:
        return []
    candidates = pc.or_(pc.is_in(connections["remote_name"], value_set=pa.array([k[0] for k in known], pa.string())),
                        pc.is_in(connections["remote_ip"], value_set=pa.array([k[1] for k in known], pa.string())))
    for row in connections.filter(pc.fill_null(candidates, False)).to_pylist():
        match = known.get((row["remote_name"], row["remote_ip"], row["remote_port"]))
        if match is None:
            continue
        pool = row.get("remote_name") or f"{row.get('remote_ip')}:{row.get('remote_port')}"
        row["_match"] = match
        grouped[(host_of(row["host"], row.get("input")), row.get("image") or row.get("name") or "?", pool)].append(row)
    out = []
    for (host, image, pool), rows in grouped.items():
        first = rows[0]
        match = first["_match"]
        out.append(Finding(
            kind=MINER_PROCESS, subject_ip=None, peer=None, flows=(), confidence=0.9,
            severity=MINER_PROCESS.severity, dimension=Dimension.HOST, subject=Subject(SubjectType.HOST, host),
            first_seen=min(_epoch(r["ts"]) for r in rows), last_seen=max(_epoch(r["ts"]) for r in rows),
            reasons=(Text(zh=f"进程 {image} 连接矿池 {pool}", en=f"process {image} connects to the pool {pool}"),),
            evidence=(Evidence("pool_connection", f"{image} → {pool}", {
                "image": image, "pid": first.get("pid"), "user": first.get("user"), "pool": pool,
                "remote_ip": first.get("remote_ip"), "remote_port": first.get("remote_port"),
                "list": match.list_name, "entry": match.entry, "category": match.category,
                "connections": len(rows)}, match.list_name),),
            source=first.get("input") or source, key=f"{image}|{pool}"))
    return out


def _endpoint_match(intel: PoolIntel, name: str | None, ip: str | None, port: int | None) -> Any:
    """Why an endpoint is a known pool: its name in the lists, else its address and port learned or confirmed,
    else its address listed; None when nothing knows it."""
    match = intel.match_mining_domain(name) if name else None
    if match is None and ip and port is not None:
        match = intel.match_endpoint(ip, int(port))
    if match is None and ip:
        match = intel.match_ip(ip)
    return match


def host_findings(found: Iterable[Finding], resources: pa.Table | None, source: str) -> list[Finding]:
    """One ``mining_host`` per machine with a host mining finding, summing them (and its tuning)."""
    by_host: dict[str, list[Finding]] = defaultdict(list)
    for f in found:
        if f.dimension == Dimension.HOST and f.kind != MINING_HOST and f.subject.type == SubjectType.HOST:
            by_host[f.subject.value].append(f)
    tuning: Mapping[str, dict[str, Any]] = {}
    if resources is not None and resources.num_rows:
        tuning = {host_of(r["host"], r.get("input")): r for r in resources.to_pylist()}
    out = []
    for host, parts in sorted(by_host.items()):
        counts: dict[str, int] = defaultdict(int)
        for f in parts:
            counts[str(f.kind)] += 1
        said = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
        evidence = [Evidence("host_summary", said, dict(counts), "host")]
        t = tuning.get(host)
        if t and (t.get("hugepages") or 0) > 0 and t.get("msr_loaded"):
            evidence.append(Evidence("tuning", f"huge pages {t['hugepages']}, msr loaded",
                                     {"hugepages": t["hugepages"], "msr_loaded": True}, "host"))
        if t and t.get("top_image") and (t.get("top_cpu_percent") or 0) >= 50:
            evidence.append(Evidence("load", f"{t['top_image']} {t['top_cpu_percent']:.0f}% CPU",
                                     {"image": t["top_image"], "cpu_percent": t["top_cpu_percent"],
                                      "machine_cpu_percent": t.get("cpu_percent")}, "host"))
        out.append(Finding(
            kind=MINING_HOST, subject_ip=None, peer=None, flows=(), confidence=max(f.confidence for f in parts),
            severity=MINING_HOST.severity, dimension=Dimension.HOST, subject=Subject(SubjectType.HOST, host),
            first_seen=min(f.first_seen for f in parts), last_seen=max(f.last_seen for f in parts),
            reasons=(Text(zh=f"主机 {host} 有挖矿痕迹：{said}", en=f"host {host} shows mining: {said}"),),
            evidence=tuple(evidence), source=parts[0].source or source, key=host))
    return out
