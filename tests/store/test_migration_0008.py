"""Migration 0008 (issue 13): the wallet column filled from the stored findings, impossible due dates
cleared, and the tables it adds (tip history, a tip's case) as the code uses them."""

from __future__ import annotations

from sqlalchemy import MetaData, create_engine, insert, select

from helpers import scan_file
from minescope.store.cases import cases
from minescope.store.findings import finding_row, findings, migrate


def test_upgrade_to_0008_fills_wallets_and_clears_impossible_due_dates(store_target: str) -> None:
    result = scan_file("mining/ndpi_mining.pcapng")
    engine = create_engine(store_target if "://" in store_target else f"sqlite:///{store_target}")
    migrate(engine, "0007")
    old = MetaData()
    old.reflect(engine, only=["findings", "cases", "scans"])
    rows = []
    for i, f in enumerate(result.findings):
        row = {k: v for k, v in finding_row(f, None).items() if k in old.tables["findings"].c}
        if i == 0:
            row["data"] = {**row["data"], "mining": {**(row["data"].get("mining") or {}), "wallet": "45sxWALLET0001"}}
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(insert(old.tables["findings"]), rows)
        for key, due in (("ip:a", float("inf")), ("ip:b", 1.8e9)):
            conn.execute(insert(old.tables["cases"]).values(subject_key=key, title=key, state="assigned", owner="x",
                                                            due_at=due, reopened=0, created_at=1.0, updated_at=1.0))
    migrate(engine)
    with engine.connect() as conn:
        wallets = dict(conn.execute(select(findings.c.id, findings.c.wallet)).all())
        dues = dict(conn.execute(select(cases.c.subject_key, cases.c.due_at)).all())
    first = result.findings[0].id
    assert wallets[first] == "45sxWALLET0001"
    others = {fid: w for fid, w in wallets.items() if fid != first}
    assert others == {f.id: (f.mining.wallet if f.mining else None) for f in result.findings[1:]}
    assert dues == {"ip:a": None, "ip:b": 1.8e9}
