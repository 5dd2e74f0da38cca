"""Fuzz target for the mining protocol parser (atheris, or any driver calling TestOneInput).

    python tests/fuzz/fuzz_mining.py [corpus_dir] [-atheris_flags]

The input's first byte picks how the rest is cut into feeds and sides, so the fuzzer explores framing
(split lines, HTTP bodies, junk) as well as message contents.
"""

from __future__ import annotations

import math
import sys

from minescope.dimensions.network.protocols.mining import MAX_PARTIAL, MiningStream, parse_messages


def check(stream: MiningStream) -> None:
    """Invariants that must hold whatever was fed."""
    for side in stream._sides:
        assert len(side.framer.buf) <= MAX_PARTIAL + 16
    assert stream.miner_side in (None, 0, 1)
    facts = stream.facts()
    if facts is None:
        assert not stream.is_mining
        return
    assert 0 <= facts.shares_accepted + facts.shares_rejected <= facts.shares_submitted
    for rate in (facts.hashrate, facts.reported_hashrate):
        if rate is not None:
            assert math.isfinite(rate.hps) and rate.hps >= 0 and rate.rel_uncertainty >= 0
            assert rate.algorithm
    if facts.difficulty is not None:
        assert facts.difficulty > 0


def TestOneInput(data: bytes) -> None:
    parse_messages(data)
    if not data:
        return
    step = 1 + data[0] % 97
    body = data[1:]
    stream = MiningStream()
    for i in range(0, len(body), step):
        chunk = body[i : i + step]
        stream.feed((i // step) % 2 if data[0] & 0x80 else 0, float(i), chunk)
    check(stream)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
