"""Many writers at once on one store: every action is kept, in one intact history chain.

Writers in threads of their own (each with its own database connection, as the console's workers
have) comment on, add tasks to, assign, close and reopen the same and different cases at the same
moment. Afterwards every answered action is in the store and ``history.verify`` finds the chain intact.
No timing is measured here (benchmarks/console_writes.py measures it against ``serve --workers 3``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import Engine, func, insert, select

from minescope.cases import history, workflow
from minescope.store.cases import case_comments, case_history, cases
from minescope.store.findings import open_store

WRITERS, ROUNDS, CASES = 12, 6, 6


@pytest.fixture
def store(store_target: str) -> Engine:
    engine = open_store(store_target)
    with engine.begin() as conn:
        for i in range(CASES):
            case_id = conn.execute(insert(cases).values(
                subject_key=f"ip:10.0.0.{i}", title=f"10.0.0.{i}", region_code="320102", state="new", reopened=0,
                created_at=0.0, updated_at=0.0)).inserted_primary_key[0]  # type: ignore[index]
            history.append(conn, case_id, "system", "create", {}, {"state": "new"})
    return engine


def test_concurrent_writers_lose_no_action_and_keep_the_chain(store: Engine) -> None:
    done: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        start.wait()
        for r in range(ROUNDS):
            same, own = 1, 2 + (n + r) % (CASES - 1)  # case 1: everyone at once; others: spread over writers
            try:
                workflow.add_comment(store, same, f"writer {n} round {r}", f"w{n}")
                workflow.add_task(store, own, f"task {n}/{r}", f"w{n}")
                with lock:
                    done["comment"] += 1
                    done["task_add"] += 1
            except Exception as e:
                failures.append(f"{type(e).__name__}: {e}"[:300])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with store.connect() as conn:
        actions = Counter(dict(conn.execute(select(case_history.c.action, func.count())
                                            .group_by(case_history.c.action)).all()))
        comments = conn.execute(select(func.count()).select_from(case_comments)).scalar_one()
    assert done["comment"] == WRITERS * ROUNDS == comments == actions["comment"]
    assert actions["task_add"] == WRITERS * ROUNDS and actions["create"] == CASES
    assert history.verify(store) == []


def test_concurrent_state_changes_of_one_case_each_happen_once(store: Engine) -> None:
    """Writers race to assign, close and reopen one case: each accepted step is one history row, refused
    ones (a step the state no longer allows) change nothing, and the chain stays intact."""
    accepted: Counter[str] = Counter()
    refused: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        start.wait()
        for step in ("assign", "close", "reopen") * 2:
            try:
                if step == "assign":
                    workflow.assign(store, 3, f"officer-{n}", time.time() + 7 * 86400, f"w{n}")
                elif step == "close":
                    workflow.close(store, 3, "false_positive", f"w{n}")
                else:
                    workflow.reopen(store, 3, f"w{n}")
                with lock:
                    accepted[step] += 1
            except workflow.WorkflowError as e:
                refused.append(str(e))
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}"[:300])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.connect() as conn:
        rows = Counter(dict(conn.execute(select(case_history.c.action, func.count())
                                         .where(case_history.c.case_id == 3).group_by(case_history.c.action)).all()))
        reopened = conn.execute(select(cases.c.reopened).where(cases.c.id == 3)).scalar_one()
    assert rows["assign"] == accepted["assign"] and rows["close"] == accepted["close"]
    assert rows["reopen"] == accepted["reopen"] == reopened
    assert history.verify(store) == []
