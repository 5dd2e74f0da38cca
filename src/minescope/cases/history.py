"""The case history: append-only, tamper-evident.

Each row records who did what to which case, with the case's fields before and after. Rows form one
hash chain: ``hash = SHA-256(prev_hash ‖ canonical JSON of the row)``, the first row chaining from
64 zeros. Changing, deleting or reordering any row breaks every link after it, which ``verify``
finds and names. A unique constraint on ``prev_hash`` stops two writers from forking the chain.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, insert, select

from minescope.store.cases import case_history
from minescope.store.findings import hold_write_lock

GENESIS = "0" * 64


def row_hash(prev_hash: str, case_id: int, at: float, actor: str, action: str,
             before: dict[str, Any], after: dict[str, Any]) -> str:
    body = orjson.dumps({"case_id": case_id, "at": at, "actor": actor, "action": action,
                         "before": before, "after": after}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


def append(conn: Connection, case_id: int, actor: str, action: str,
           before: dict[str, Any], after: dict[str, Any], at: float | None = None) -> str:
    """Add one history row (in the caller's transaction) and return its hash."""
    hold_write_lock(conn)  # two writers must not both chain to the same last row
    prev = conn.execute(select(case_history.c.hash).order_by(case_history.c.id.desc()).limit(1)).scalar()
    prev_hash = prev or GENESIS
    at = round(time.time() if at is None else at, 6)
    before, after = _plain(before), _plain(after)
    digest = row_hash(prev_hash, case_id, at, actor, action, before, after)
    conn.execute(insert(case_history).values(case_id=case_id, at=at, actor=actor, action=action, before=before,
                                             after=after, prev_hash=prev_hash, hash=digest))
    return digest


def verify(store: Engine) -> list[str]:
    """Problems in the chain, one line each (empty when intact)."""
    problems = []
    expected_prev = GENESIS
    with store.connect() as conn:
        for row in conn.execute(select(case_history).order_by(case_history.c.id)):
            if row.prev_hash != expected_prev:
                problems.append(f"history row {row.id}: link to the previous row is broken (row removed or reordered)")
            digest = row_hash(row.prev_hash, row.case_id, row.at, row.actor, row.action, row.before, row.after)
            if digest != row.hash:
                problems.append(f"history row {row.id}: contents do not match their hash (row changed)")
            expected_prev = row.hash
    return problems


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """JSON round trip, so the hash covers exactly what the database stores."""
    data: dict[str, Any] = orjson.loads(orjson.dumps(d))
    return data
