"""How well the funds typologies find planted accounts: per typology on the bank generator, and precision at k on
IBM AMLSim's published outputs beside a distinct-in-degree baseline.

    python benchmarks/funds_eval.py [--amlsim DIR] [--persons 10000] [--days 45] [--engine duckdb]

Generator (``benchmarks/funds_generator.py``): two banks, seed 1 (calibration: the bands, weights and thresholds
of ``typologies.toml`` were chosen looking at it) and seed 2 (held out: the figures reported). Precision and
recall per typology, at the review and at the alert threshold, over every account; an account planted as one
typology and flagged as the other counts as a false positive of the other.

AMLSim (the shared corpus's ``funds/``: ``20K_fanin200``, ``20K_cycle200``, ``20K_fanin200cycle200``; ``--amlsim``
names the folder holding the three unpacked folders or the .tgz files): each transfer becomes two statement
lines (the payer's out, the payee's in) at simulation step ``time`` = day ``time`` after 2019-01-01, 12:00 local;
amounts as given (AMLSim has no currency). Nothing in the typologies was chosen on AMLSim's labels. Every
account is ranked by its ``money_mule`` typology score (ties by the distinct payers, then the account id);
precision at k = the number of fraud accounts of the file (R-precision), beside the same for distinct in-degree
(ties by account id). AMLSim labels every member of a pattern: the senders of a fan-in as well as its receiver.
Our findings are about the collecting account; the pattern's senders are its supporting transactions'
counterparties. So two rankings are reported: ``accounts`` (the account's own score) and ``members`` (an
account scores the highest typology score of the flagged accounts whose supporting transactions name it, when
higher than its own: the pattern a finding shows), with the held-out half being the odd account ids (the even
half is not used to choose anything either: both halves are shown).

Results: benchmarks/results/funds_eval.json; the markdown table is printed (docs/funds.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))

from funds_generator import generate

from minescope.dimensions.funds.detectors import account_scores
from minescope.dimensions.funds.tables import TRANSACTIONS
from minescope.engines.sql import open_engine
from minescope.knowledge.funds import load_typologies

RESULTS = Path(__file__).resolve().parent / "results" / "funds_eval.json"
AMLSIM = ("20K_fanin200", "20K_cycle200", "20K_fanin200cycle200")
STEP0 = int(datetime(2019, 1, 1, 4, tzinfo=UTC).timestamp() * 1_000_000)  # 12:00 local (UTC+8)
TABLES = ("transactions", "bank_accounts", "known_counterparties", "usdt_rates")


def bank(root: Path, engine_name: str) -> dict[str, object]:
    t = load_typologies()
    eng = open_engine(engine_name)
    try:
        eng.add_parquet("transactions", sorted((root / "transactions").glob("*.parquet")))
        for name in TABLES[1:]:
            eng.add_parquet(name, [root / f"{name}.parquet"])
        t0 = time.perf_counter()
        rows = account_scores(engine=eng, held=set(TABLES))
        seconds = time.perf_counter() - t0
    finally:
        eng.close()
    truth = {r["account"]: r for r in csv.DictReader((root / "truth.csv").open())}
    out: dict[str, object] = {"accounts": len(rows), "seconds": round(seconds, 1)}
    for ty in t.typologies.values():
        pos = {a for a, r in truth.items() if r["typology"] == ty.id}
        for level, threshold in (("review", ty.review), ("alert", ty.alert)):
            flagged = {r["account"] for r in rows if float(r[f"score_{ty.id}"] or 0) >= threshold}
            tp = len(flagged & pos)
            missed: dict[str, int] = {}
            for a in sorted(pos - flagged):
                missed[truth[a]["shape"]] = missed.get(truth[a]["shape"], 0) + 1
            out[f"{ty.id}@{level}"] = {
                "flagged": len(flagged), "true": tp, "planted": len(pos),
                "precision": round(tp / len(flagged), 3) if flagged else None,
                "recall": round(tp / len(pos), 3) if pos else None, "missed_by_shape": missed}
    return out


def _amlsim_folder(base: Path, name: str, scratch: Path) -> Path:
    if (base / name / "transactions.csv").exists():
        return base / name
    with tarfile.open(base / f"{name}.tgz") as tar:
        tar.extractall(scratch, filter="data")
    return scratch / name


def amlsim_tables(folder: Path) -> tuple[pa.Table, dict[str, int]]:
    tx = pacsv.read_csv(folder / "transactions.csv")
    nodes = pacsv.read_csv(folder / "nodes.csv")
    src = [f"A{v}" for v in tx.column("sourceNodeId").to_pylist()]
    dst = [f"A{v}" for v in tx.column("targetNodeId").to_pylist()]
    value = tx.column("value").to_pylist()
    ts = [STEP0 + int(s) * 86_400_000_000 for s in tx.column("time").to_pylist()]
    n = len(src)
    ids = [f"T{i}" for i in range(n)]
    table = pa.table({
        "txn_id": ids + ids, "account": src + dst, "counterparty": dst + src, "counterparty_name": [None] * (2 * n),
        "amount": [float(v) for v in value] * 2, "currency": [None] * (2 * n), "direction": ["out"] * n + ["in"] * n,
        "ts": pa.array(ts + ts, pa.timestamp("us", tz="UTC")), "channel": [None] * (2 * n),
        "remark": [None] * (2 * n), "device": [None] * (2 * n), "ip": [None] * (2 * n),
        "source": ["amlsim"] * (2 * n), "input": [folder.name] * (2 * n)}, schema=TRANSACTIONS)
    labels = {f"A{a}": int(f) for a, f in zip(nodes.column("nodeid").to_pylist(), nodes.column("isFraud").to_pylist(),
                                               strict=True)}
    return table, labels


def _precision(order: list[str], labels: dict[str, int], k: int) -> float:
    return sum(labels[a] for a in order[:k]) / k


def amlsim(folder: Path, engine_name: str) -> dict[str, object]:
    from minescope.dimensions.funds.detectors import detect

    table, labels = amlsim_tables(folder)
    t0 = time.perf_counter()
    rows = {r["account"]: r for r in account_scores({"transactions": table})}
    findings = detect({"transactions": table})
    seconds = time.perf_counter() - t0
    everyone = sorted(labels)
    indeg: dict[str, set[str]] = {}
    for a, c, d in zip(table.column("account").to_pylist(), table.column("counterparty").to_pylist(),
                       table.column("direction").to_pylist(), strict=True):
        if d == "in":
            indeg.setdefault(a, set()).add(c)
    own = {a: float(rows[a]["score_money_mule"] or 0) if a in rows else 0.0 for a in everyone}
    payers = {a: float(rows[a]["payers"] or 0) if a in rows else 0.0 for a in everyone}
    members = dict(own)
    # the supporting transactions of a finding carry every counterparty, not just the sample shown
    supporting = _supporting_counterparties(table, findings)
    for a, score in supporting.items():
        if a in members and score > members[a]:
            members[a] = score
    out: dict[str, object] = {"accounts": len(everyone), "fraud": sum(labels.values()), "seconds": round(seconds, 1),
                              "findings": len(findings)}
    k = sum(labels.values())
    for half, keep in (("all", lambda a: True), ("odd", lambda a: int(a[1:]) % 2 == 1),
                       ("even", lambda a: int(a[1:]) % 2 == 0)):
        accts = [a for a in everyone if keep(a)]
        kk = sum(labels[a] for a in accts)
        base = sorted(accts, key=lambda a: (-len(indeg.get(a, ())), int(a[1:])))
        mine = sorted(accts, key=lambda a: (-own[a], -payers[a], int(a[1:])))
        mem = sorted(accts, key=lambda a: (-members[a], -own[a], -payers[a], int(a[1:])))
        out[half] = {"k": kk, "baseline_in_degree": round(_precision(base, labels, kk), 3),
                     "accounts": round(_precision(mine, labels, kk), 3),
                     "members": round(_precision(mem, labels, kk), 3)}
    out["k"] = k
    return out


def _supporting_counterparties(table: pa.Table, findings: list) -> dict[str, float]:
    """Every counterparty of a money-mule finding's supporting rules (payers of a collection, hops of a cycle)."""
    flagged: dict[str, float] = {}
    rules: dict[str, set[str]] = {}
    for f in findings:
        if f.kind != "money_mule_account":
            continue
        flagged[f.subject.value] = next(float(e.detail["score"]) for e in f.evidence if e.type == "typology")
        rules[f.subject.value] = {e.detail["rule"] for e in f.evidence if e.type == "transactions"}
    out: dict[str, float] = {}
    acc = table.column("account").to_pylist()
    cps = table.column("counterparty").to_pylist()
    dirs = table.column("direction").to_pylist()
    for a, c, d in zip(acc, cps, dirs, strict=True):
        if a in flagged and ((d == "in" and "many_small_payers" in rules[a]) or "cycle" in rules[a]
                             or (d == "out" and "consolidation" in rules[a])):
            out[c] = max(out.get(c, 0.0), flagged[a])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--amlsim", type=Path, help="folder with AMLSim's three outputs (the shared corpus's funds/)")
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument("--engine", default="duckdb")
    a = ap.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="funds-eval-") as tmp:
        for seed, role in ((1, "calibration"), (2, "held_out")):
            root = Path(tmp) / f"bank{seed}"
            counts = generate(root, persons=a.persons, days=a.days, seed=seed)
            results[f"generator_seed{seed}_{role}"] = {**counts, **bank(root, a.engine)}
            print(json.dumps(results[f"generator_seed{seed}_{role}"], ensure_ascii=False), flush=True)
        if a.amlsim:
            for name in AMLSIM:
                folder = _amlsim_folder(a.amlsim, name, Path(tmp))
                results[name] = amlsim(folder, a.engine)
                print(name, json.dumps(results[name]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
