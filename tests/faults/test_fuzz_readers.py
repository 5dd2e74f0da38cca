"""Every reader fed mutated real inputs: no exception, no hang, at most one line per input, a consistent store.

Real inputs of every format the scan reads (captures: pcap, pcapng, gzip; NetFlow v5/v9/IPFIX, as export
streams and as captures of export traffic; nfdump CSV and nfcapd; Zeek TSV and JSON, plain and gzip;
Suricata EVE; CSV and Parquet flow logs of the minescope schema, made from a real nfdump export) are cut at
every kind of structural boundary (records, blocks, packets, flow sets, lines) and a byte either side,
bit-flipped, given bytes inserted and deleted, a record repeated, header fields set to absurd values
(lengths, counts, versions, link types), and text fields replaced by absurd values (1e300, inf, nan, huge
numbers, non-UTF-8 bytes, objects where values belong). Deterministic: one seed per input
(``MINESCOPE_FAULTS_SEED`` shifts them, ``MINESCOPE_FAULTS_SCALE`` multiplies the count).

In-process, each mutant is scanned as the command scans it (``Scanner.scan``, then the JSON output and the
store's one transaction): nothing escapes, it ends within ``CASE_S``, the input has one summary with at
most one problem of one line, finding ids are unique, and the store written holds together. Then a few
whole ``minescope scan`` runs over many mutants at once: exit 0 or 2, never 1, never a traceback, and one
stderr line at most per input, each naming its input. ``tests/dimensions/network/readers/test_fuzz.py``
(hypothesis: random bytes into the protocol parsers, bit flips into two captures) goes beside this.
"""

from __future__ import annotations

import gzip
import math
import signal
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    CORPUS,
    FAULTS_SCALE,
    FAULTS_SEED,
    FLOWLOGS,
    cli,
    line_layout,
    mutants,
    netflow_layout,
    no_traceback,
    pcap_layout,
    pcapng_layout,
    store_problems,
)

CASE_S = 30  # one small mutated input scanned in-process: far more than any takes
NF, ZEEK = FLOWLOGS / "netflow", FLOWLOGS / "zeek"
HOST_DATA = FLOWLOGS.parent / "host"
Layout = Callable[[bytes], tuple[list[int], list[tuple[int, int]]]]


def _text(data: bytes) -> tuple[list[int], list[tuple[int, int]]]:
    return line_layout(data), []


def _blob(data: bytes) -> tuple[list[int], list[tuple[int, int]]]:
    """A format the test does not parse: cut anywhere, header bytes and the last eight (a footer) absurd."""
    n = len(data)
    return [n // 8 * k for k in range(1, 8)] + [n - 8, n - 4], [(0, 4), (4, 4), (8, 4), (n - 8, 4), (n - 4, 4)]


def _gzip_raw(data: bytes) -> tuple[list[int], list[tuple[int, int]]]:
    """A gzip member: its header, deflate blocks (cut anywhere), and the CRC and length of its trailer."""
    n = len(data)
    return [10, *[n // 16 * k for k in range(1, 16)], n - 8, n - 4], [(0, 2), (2, 2), (4, 4), (n - 8, 4), (n - 4, 4)]


@cache
def _mapped_flows() -> tuple[bytes, bytes]:
    """A real nfdump export read into the flows table, written as CSV and as Parquet (the minescope
    schema: such files are read with no column mapping)."""
    import io

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from minescope.dimensions.network.readers.inputs import read_flow_log

    flows = read_flow_log(NF / "nfdump-ndpi_mining.csv")["flows"]
    flows = flows.drop_columns([c for c in flows.column_names if flows.schema.field(c).type.num_fields])
    csv_out, pq_out = io.BytesIO(), io.BytesIO()
    pacsv.write_csv(flows, csv_out)
    pq.write_table(flows, pq_out, row_group_size=8)
    return csv_out.getvalue(), pq_out.getvalue()


@cache
def _exported_processes() -> tuple[bytes, bytes]:
    """The process starts of a real Sysmon log (OTRF), exported as an EDR would: CSV and JSON lines with the
    processes table's own column names (read with no column mapping)."""
    import io

    import orjson
    import pyarrow.csv as pacsv

    from minescope.dimensions.host.readers import read_host_log

    processes = read_host_log(HOST_DATA / "otrf" / "covenant_psremoting_grunt.zip")["processes"]
    processes = processes.drop_columns(["source", "input"])
    csv_out = io.BytesIO()
    pacsv.write_csv(processes, csv_out)
    lines = b"".join(orjson.dumps(r, option=orjson.OPT_NAIVE_UTC) + b"\n" for r in processes.to_pylist())
    return csv_out.getvalue(), lines


# name → (the real input, the name a mutant is written under, its layout, text tokens, gzip the mutant)
SEEDS: dict[str, tuple[Callable[[], bytes], str, Layout, bool, bool]] = {
    "pcap": (lambda: (CORPUS / "mining" / "zeekcm_bitcoin-mining.pcap").read_bytes(), "m.pcap", pcap_layout,
             False, False),
    "pcapng": (lambda: (CORPUS / "mining" / "ndpi_mining.pcapng").read_bytes(), "m.pcapng", pcapng_layout,
               False, False),
    "pcap.gz": (lambda: gzip.compress((CORPUS / "mining" / "zeekcm_bitcoin-mining-in-progress.pcap").read_bytes(),
                                      mtime=0), "m.pcap.gz", _gzip_raw, False, False),
    "netflow-v5": (lambda: (NF / "v5.bin").read_bytes(), "v5.bin", netflow_layout, False, False),
    "netflow-v9": (lambda: (NF / "v9.bin").read_bytes(), "v9.bin", netflow_layout, False, False),
    "ipfix": (lambda: (NF / "ipfix.bin").read_bytes(), "ipfix.bin", netflow_layout, False, False),
    "ipfix-biflow": (lambda: (NF / "ipfix-biflow.bin").read_bytes(), "biflow.bin", netflow_layout, False, False),
    "netflow-pcap": (lambda: (NF / "v9.pcap").read_bytes(), "export.pcap", pcap_layout, False, False),
    "nfdump-csv": (lambda: (NF / "nfdump-ndpi_mining.csv").read_bytes(), "nfdump.csv", _text, True, False),
    "nfcapd": (lambda: (NF / "ndpi_mining.nfcapd").read_bytes(), "nfcapd.202611240800", _blob, False, False),
    "zeek-tsv": (lambda: (ZEEK / "zat-conn.log").read_bytes(), "conn.log", _text, True, False),
    "zeek-tsv-dns": (lambda: (ZEEK / "ctu-sme-11-dns.log.labeled").read_bytes(), "dns.log", _text, True, False),
    "zeek-tsv.gz": (lambda: gzip.decompress((ZEEK / "wrccdc-ssl.log.gz").read_bytes()), "ssl.log.gz", _text,
                    True, True),
    "zeek-json": (lambda: (ZEEK / "zat-json_conn.log").read_bytes(), "conn.json.log", _text, True, False),
    "zeek-json-ssl": (lambda: (ZEEK / "zat-json_ssl.log").read_bytes(), "ssl.json.log", _text, True, False),
    "eve": (lambda: gzip.decompress((FLOWLOGS / "suricata" / "eve-sample.json.gz").read_bytes()), "eve.json",
            _text, True, False),
    "eve.gz": (lambda: (FLOWLOGS / "suricata" / "eve-sample.json.gz").read_bytes(), "eve.json.gz", _gzip_raw,
               False, False),
    "mapped-csv": (lambda: _mapped_flows()[0], "flows.csv", _text, True, False),
    "mapped-parquet": (lambda: _mapped_flows()[1], "flows.parquet", _blob, False, False),
    "host-export-csv": (lambda: _exported_processes()[0], "processes.csv", _text, True, False),
    "host-export-jsonl": (lambda: _exported_processes()[1], "processes.jsonl", _text, True, False),
}
PER_SEED = 16 * FAULTS_SCALE


def seed_of(name: str) -> int:
    return FAULTS_SEED * 100_000 + zlib.crc32(name.encode())


def cases(name: str, count: int) -> Iterator[tuple[str, bytes]]:
    read, _, layout, tokens, gz = SEEDS[name]
    data = read()
    bounds, fields = layout(data)
    yield "original", data
    for label, mutant in mutants(data, seed_of(name), count, bounds, fields, tokens):
        yield label, gzip.compress(mutant, mtime=0) if gz else mutant


class Hang(Exception):
    pass


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def alarm(_sig: int, _frame: Any) -> None:
        raise Hang(f"still reading after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@cache
def _scanner() -> Any:
    from minescope.pipeline import Scanner

    return Scanner()


def _check_one(path: Path, store: Any) -> list[str]:
    """What is wrong with how one mutant was read, in words."""
    import orjson

    from minescope.cli import _store
    from minescope.outputs.jsonout import dumps
    from minescope.outputs.summary import summarize

    with deadline(CASE_S):
        result = _scanner().scan([path])
        doc = orjson.loads(dumps(result, summarize(result)))
        _store(store, result)
    bad = []
    mine = [i for i in result.inputs if i.path == str(path)]
    if len(mine) != 1:
        bad.append(f"{len(mine)} summaries of the input")
    for i in mine:
        if i.problem is not None and not all(t and "\n" not in t for t in (i.problem.zh, i.problem.en)):
            bad.append(f"a problem that is not one line in each language: {i.problem!r}")
    ids = [f["id"] for f in doc["findings"]]
    if len(ids) != len(set(ids)):
        bad.append("a finding id twice in the output")
    for f in result.findings:
        if not (math.isfinite(f.first_seen) and math.isfinite(f.last_seen)):
            bad.append(f"a finding at an impossible time: {f.first_seen}, {f.last_seen}")
    return bad


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_a_reader_takes_mutated_real_input(tmp_path: Path, name: str) -> None:
    from minescope.store.findings import open_store

    db = tmp_path / "m.db"
    store = open_store(db)
    failures: list[str] = []
    try:
        for n, (label, data) in enumerate(cases(name, PER_SEED)):
            path = tmp_path / f"{n:03d}-{SEEDS[name][1]}"
            path.write_bytes(data)
            try:
                bad = _check_one(path, store)
            except Exception as e:  # an exception escaping a reader: the very thing this looks for
                bad = [f"{type(e).__name__}: {str(e)[:300]}"]
            failures += [f"{name} {label} ({path.name}): {b}" for b in bad]
            if not bad:
                path.unlink()  # keep only the mutants that failed, to reproduce them
    finally:
        store.dispose()
    assert store_problems(db) == []
    assert not failures, "\n".join(failures[:30])


# whole runs: a few mutants of every input at once, in each language
GROUPS = [sorted(SEEDS)[k::3] for k in range(3)]


@pytest.mark.parametrize(("group", "lang"), [(0, "en"), (1, "zh"), (2, "en")])
def test_the_command_on_many_mutated_inputs(tmp_path: Path, group: int, lang: str) -> None:
    inputs = []
    for name in GROUPS[group]:
        for n, (_, data) in enumerate(cases(name, 4 * FAULTS_SCALE)):
            path = tmp_path / f"{name}-{n:02d}-{SEEDS[name][1]}"
            path.write_bytes(data)
            inputs.append(path)
    store = tmp_path / "m.db"
    run = cli("scan", *inputs, "--db", store, "--lang", lang)
    no_traceback(run)
    assert run.rc in (0, 2), run.explain()
    told = [line for line in run.lines if not line.startswith(("stored in", "已保存到"))]
    assert len(told) <= len(inputs), run.explain()
    named = [[p for p in inputs if str(p) in line] for line in told]
    assert all(len(n) == 1 for n in named), f"a line that names no input or several: {run.explain()}"
    assert len({n[0] for n in named}) == len(named), f"an input given two lines: {run.explain()}"
    assert (run.rc == 2) == bool(told), run.explain()
    assert store_problems(store) == []
