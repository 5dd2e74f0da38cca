"""Property tests for the mining parser: arbitrary bytes, arbitrary JSON, mutated real lines.

No exception may escape ``feed``, ``facts`` or ``parse_messages``; the invariants in
``tests/fuzz/fuzz_mining.py::check`` must hold; framing must not depend on how bytes are split.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ROOT
from minescope.dimensions.network.protocols.mining import MiningStream, parse_messages

sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
from fuzz_mining import TestOneInput, check

from helpers import BFGMINER, ETHPROXY, XMRSTAK, ZCASH

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_SETTINGS = settings(SETTINGS, max_examples=150)  # generating nested JSON is the slow part
REAL_LINES = [data for session in (ETHPROXY, ZCASH, XMRSTAK, BFGMINER) for _, _, data in session]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
method_names = st.sampled_from(
    [
        "mining.subscribe",
        "mining.authorize",
        "mining.submit",
        "mining.notify",
        "mining.set_difficulty",
        "mining.set_target",
        "login",
        "job",
        "submit",
        "keepalived",
        "eth_submitLogin",
        "eth_getWork",
        "eth_submitWork",
        "eth_submitHashrate",
        "getwork",
        "getblocktemplate",
        "submitblock",
        "echo",
    ]
)
hexes = st.text(alphabet="0123456789abcdef", min_size=1, max_size=80)
params = st.one_of(
    json_values,
    st.lists(st.one_of(hexes, json_values), max_size=9),
    st.dictionaries(
        st.sampled_from(["login", "pass", "agent", "job_id", "nonce", "blob", "target", "algo", "id"]),
        st.one_of(hexes, json_values),
        max_size=6,
    ),
)
rpc = st.one_of(
    st.fixed_dictionaries({"id": json_values, "method": method_names, "params": params}),
    st.fixed_dictionaries(
        {
            "id": json_values,
            "result": st.one_of(json_values, st.lists(hexes, max_size=4)),
            "error": json_values,
        }
    ),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)


def feed_all(stream: MiningStream, pieces: list[tuple[int, bytes]]) -> MiningStream:
    for i, (side, data) in enumerate(pieces):
        stream.feed(side, float(i), data)
    return stream


@SETTINGS
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes) -> None:
    parse_messages(data)
    TestOneInput(data)


@JSON_SETTINGS
@given(st.lists(st.tuples(st.integers(0, 1), rpc), max_size=30))
def test_arbitrary_json_rpc(messages: list[tuple[int, Any]]) -> None:
    pieces = [(side, json.dumps(m).encode() + b"\n") for side, m in messages]
    check(feed_all(MiningStream(), pieces))
    parse_messages(b"".join(p for _, p in pieces))


@JSON_SETTINGS
@given(st.lists(st.tuples(st.integers(0, 1), json_values), max_size=20))
def test_arbitrary_json_values(values: list[tuple[int, Any]]) -> None:
    check(feed_all(MiningStream(), [(side, json.dumps(v).encode() + b"\n") for side, v in values]))


def mutate(line: bytes, data: st.DataObject) -> bytes:
    ops = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, max(0, len(line) - 1)),
                st.integers(0, 255),
                st.sampled_from(["replace", "insert", "delete"]),
            ),
            max_size=6,
        )
    )
    b = bytearray(line)
    for pos, value, op in ops:
        pos = min(pos, len(b))
        if op == "replace" and pos < len(b):
            b[pos] = value
        elif op == "insert":
            b.insert(pos, value)
        elif pos < len(b):
            del b[pos]
    return bytes(b)


@SETTINGS
@given(st.data())
def test_mutated_real_lines(data: st.DataObject) -> None:
    picks = data.draw(st.lists(st.sampled_from(range(len(REAL_LINES))), min_size=1, max_size=25))
    pieces = [(data.draw(st.integers(0, 1)), mutate(REAL_LINES[i], data)) for i in picks]
    check(feed_all(MiningStream(), pieces))


@SETTINGS
@given(st.data())
def test_split_anywhere_equals_whole(data: st.DataObject) -> None:
    """Whatever the split points, the stream ends in the same state as when fed whole messages."""
    picks = data.draw(st.lists(st.sampled_from(range(len(REAL_LINES))), min_size=1, max_size=20))
    junk = data.draw(st.lists(st.binary(max_size=30), max_size=3))
    pieces = [(i % 2, REAL_LINES[p]) for i, p in enumerate(picks)] + [(0, j) for j in junk]
    order = data.draw(st.permutations(range(len(pieces))))
    pieces = [pieces[i] for i in order]
    whole = feed_all(MiningStream(), pieces)
    split = MiningStream()
    for i, (side, chunk) in enumerate(pieces):
        cuts = sorted(set(data.draw(st.lists(st.integers(0, len(chunk)), max_size=4))))
        for a, b in zip([0, *cuts], [*cuts, len(chunk)], strict=True):
            split.feed(side, float(i), chunk[a:b])
    assert (split.is_mining, split.gave_up, split.miner_side) == (
        whole.is_mining,
        whole.gave_up,
        whole.miner_side,
    )
    assert split.facts() == whole.facts()
    check(split)
