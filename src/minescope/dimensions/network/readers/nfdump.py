"""nfdump exports: ``nfdump -o csv`` text, and nfcapd binary files through the ``nfdump`` program.

The CSV columns differ by nfdump version, so columns are found by their header names: nfdump up to
1.7.4 writes ``ts,te,td,sa,da,sp,dp,pr,flg,…,ipkt,ibyt,opkt,obyt,…``; 1.7.5 and later write names
such as ``firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes`` (and any user
format ``-o csv:%ts,%sa,…``). The ``Summary`` block nfdump prints after the flows ends the data.
nfdump prints times in the local time zone of the machine that ran it: pass ``tz`` when that was
not UTC (nfcapd files are exported here with ``TZ=UTC``). Its ``ts`` has whole seconds.
``opkt``/``obyt`` are zero for unidirectional records; zero out-counters are read as null.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from datetime import tzinfo
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.network.readers import vector as v
from minescope.dimensions.network.tables import BATCH_ROWS, FLOWS, proto_number
from minescope.readers.report import InputReport
from minescope.readers.textio import lines
from minescope.readers.values import duration_s, tcp_flags, zone

# Our field → the header names nfdump has used for it.
ALIASES = {
    "ts": ("ts", "firstseen", "tstart", "first"),
    "te": ("te", "lastseen", "tend", "last"),
    "td": ("td", "duration"),
    "sa": ("sa", "srcaddr", "srcip"),
    "da": ("da", "dstaddr", "dstip"),
    "sp": ("sp", "srcport"),
    "dp": ("dp", "dstport"),
    "pr": ("pr", "proto", "protocol"),
    "flg": ("flg", "tcpflags", "flags"),
    "ipkt": ("ipkt", "pkt", "packets", "inpackets", "inpkt"),
    "ibyt": ("ibyt", "byt", "bytes", "inbytes", "inbyt"),
    "opkt": ("opkt", "outpackets", "outpkt"),
    "obyt": ("obyt", "outbytes", "outbyt"),
}
REQUIRED = ("ts", "sa", "da")


def _columns(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    found = {}
    for key, aliases in ALIASES.items():
        for alias in aliases:
            if alias in names:
                found[key] = names.index(alias)
                break
    return found


def is_nfdump_header(line: str) -> bool:
    cols = _columns(line.split(","))
    return all(k in cols for k in REQUIRED) and ("ipkt" in cols or "ibyt" in cols)


def read_nfdump_csv(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS,
                    tz: str | None = None) -> Iterator[pa.RecordBatch]:
    report.format = report.format or "nfdump-csv"
    yield from _parse(lines(path, report), report, batch_rows, tz)


def read_nfcapd(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """An nfcapd binary file, exported by ``nfdump -r FILE -o csv`` (Debian package ``nfdump``)."""
    report.format = report.format or "nfcapd"
    exe = shutil.which("nfdump")
    if exe is None:
        report.fail("这是 nfcapd 二进制文件，读取它需要 nfdump 程序（Debian：apt-get install nfdump），或先用 "
                    "nfdump -r 文件 -o csv 导出为 CSV",
                    "this is an nfcapd binary file: reading it needs the nfdump program (Debian: apt-get install "
                    "nfdump), or export it first with nfdump -r FILE -o csv")
        return
    env = dict(os.environ, TZ="UTC")
    proc = subprocess.Popen([exe, "-r", str(path), "-o", "csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    stdout = proc.stdout
    assert stdout is not None

    def numbered() -> Iterator[tuple[int, bytes]]:
        for n, line in enumerate(stdout, 1):
            yield n, line.rstrip(b"\r\n")

    try:
        yield from _parse(numbered(), report, batch_rows, "UTC")
    finally:
        stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            detail = err.splitlines()[-1] if err else f"exit status {proc.returncode}"
            report.fail(f"nfdump 无法读取该文件（{detail}）；文件可能损坏或版本过新",
                        f"nfdump could not read the file ({detail}); it may be corrupt or from a newer nfdump")


def _parse(numbered: Iterable[tuple[int, bytes]], report: InputReport, batch_rows: int,
           tz_name: str | None) -> Iterator[pa.RecordBatch]:
    tz = zone(tz_name)
    cols: dict[str, int] | None = None
    width = 0
    rows: list[list[str]] = []
    line_of: list[int] = []
    for n, raw in numbered:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            report.line(n, "不是 UTF-8 文本", "not UTF-8 text")
            continue
        if not line.strip():
            continue
        if cols is None:
            header = line.split(",")
            found = _columns(header)
            if not all(k in found for k in REQUIRED):
                report.fail("第一行不是 nfdump CSV 表头（缺少 ts/sa/da 或 firstSeen/srcAddr/dstAddr 列）；请用 "
                            "nfdump -o csv 导出",
                            "the first line is not an nfdump CSV header (no ts/sa/da or firstSeen/srcAddr/dstAddr "
                            "columns); export with nfdump -o csv")
                return
            cols, width = found, len(header)
            continue
        if line.startswith(("Summary", "No matching flows")):
            break  # nfdump's totals follow
        f = line.split(",")
        if len(f) != width:
            report.line(n, f"有 {len(f)} 列，表头有 {width} 列", f"{len(f)} fields where the header has {width}")
            continue
        rows.append(f)
        line_of.append(n)
        if len(rows) >= batch_rows:
            yield from _batch(rows, line_of, cols, tz, report)
            rows, line_of = [], []
    if rows and cols is not None:
        yield from _batch(rows, line_of, cols, tz, report)


def _batch(rows: list[list[str]], line_of: list[int], c: dict[str, int], tz: tzinfo,
           report: InputReport) -> Iterator[pa.RecordBatch]:
    n = len(rows)
    bad = v.Bad(n)

    def get(key: str) -> pa.Array:
        i = c.get(key)
        if i is None:
            return pa.nulls(n, pa.string())
        arr = pc.utf8_trim_whitespace(pa.array([r[i] for r in rows], pa.string()))
        return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)

    ts = v.local_times(get("ts"), tz, bad, "ts")
    if "td" in c:
        duration = v.floats(get("td"), bad, "td", duration_s)
    else:
        end = v.local_times(get("te"), tz, bad, "te")
        duration = pc.divide(pc.subtract(end.cast(pa.int64()), ts.cast(pa.int64())).cast(pa.float64()), 1e6)
    proto = v.per_value(get("pr"), proto_number, pa.uint8())
    opkt, obyt = v.ints(get("opkt"), bad, "opkt"), v.ints(get("obyt"), bad, "obyt")
    unidirectional = pc.fill_null(pc.and_(pc.equal(pc.fill_null(opkt, 0), 0), pc.equal(pc.fill_null(obyt, 0), 0)), True)
    flags = v.per_value(get("flg"), tcp_flags, pa.uint8(), bad, "flg")
    out = {
        "ts": ts, "duration_s": duration, "proto": proto,
        "src_ip": v.addresses(get("sa"), bad, "sa"), "dst_ip": v.addresses(get("da"), bad, "da"),
        "src_port": v.ports_for(v.ints(get("sp"), bad, "sp", pa.int32()), proto),
        "dst_port": v.ports_for(v.ints(get("dp"), bad, "dp", pa.int32()), proto),
        "src_packets": v.ints(get("ipkt"), bad, "ipkt"), "src_bytes": v.ints(get("ibyt"), bad, "ibyt"),
        "dst_packets": pc.if_else(unidirectional, pa.scalar(None, pa.int64()), opkt),
        "dst_bytes": pc.if_else(unidirectional, pa.scalar(None, pa.int64()), obyt),
        "tcp_flags": pc.if_else(pc.fill_null(pc.equal(proto, 6), False), flags, pa.scalar(None, pa.uint8())),
        "source": pa.array(["nfdump"] * n, pa.string()), "input": pa.array([report.input] * n, pa.string()),
    }
    batch = pa.RecordBatch.from_arrays([out[f.name].cast(f.type) if f.name in out else pa.nulls(n, f.type)
                                        for f in FLOWS], schema=FLOWS)
    for i in sorted(bad.why):
        report.line(line_of[i], f"无法解析的值（{bad.why[i]}）", f"unparsable value ({bad.why[i]})")
    if bad.mask.any():
        batch = batch.filter(pa.array(~bad.mask))
    if batch.num_rows:
        report.count("flows", batch.num_rows)
        yield batch
