"""Zeek logs: conn, dns, ssl, http and notice, as TSV (``#fields`` header) or JSON lines; plain or gzip.

  conn.log   → ``flows`` (orig is src; bytes are orig_ip_bytes/resp_ip_bytes; ``label`` from labelled
               logs' ``label``/``detailedlabel`` columns)
  dns.log    → ``dns``
  ssl.log    → ``flows`` name rows (``server_name`` = SNI, counters null, ``sensor_uid`` = uid), and ``tls``
               rows of its ``ja3``/``ja4`` fields when the sensor runs the JA3 or JA4 package
  http.log   → ``flows`` name rows (``server_name`` = Host without port)
  notice.log → ``alerts``

TSV: the header gives separator, set separator, empty and unset markers and the field names, so
columns are found by name (Zeek versions add fields; labelled logs add columns). A new ``#fields``
line starts a new header (logs joined end to end); ``#close`` and other comments are skipped.
Times are epoch seconds, or ISO 8601 in JSON written with ``json_timestamps``.

Python only splits lines (TSV) or parses them (orjson); the values of a batch are converted a
column at a time by Arrow (``vector``), so a bad value costs a look at its column, not a slow path
for the file. Why not ``zat`` (Zeek Analysis Tools): it needs pandas (not otherwise used here), reads
a whole log into memory, has no per-line error reporting, and gives DataFrames that would still
need mapping to this schema; see docs/flowlogs.md for timings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.network.readers import vector as v
from minescope.dimensions.network.tables import ALERTS, BATCH_ROWS, DNS, FLOWS, proto_number, tls_fingerprints
from minescope.readers.report import InputReport
from minescope.readers.textio import json_object, lines
from minescope.readers.values import norm_ip, norm_name

LIST_FIELDS = frozenset({"answers", "TTLs"})  # JSON fields that hold lists (Zeek sets and vectors)
Get = Callable[[str], pa.Array]  # a field's raw values in the batch (all null when absent)
Arrays = dict[str, pa.Array]


def host_only(host: Any) -> str | None:
    """An HTTP Host header without its port (``[::1]:8080`` → ``::1``)."""
    if not host or host == "-":
        return None
    h = str(host).strip()
    if h.startswith("["):
        return norm_name(h[1 : h.find("]")] if "]" in h else h[1:])
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return norm_name(h)


def answer_text(text: str) -> str:
    """A DNS answer as stored: addresses canonical, names lower-case without the dot, other
    record data (TXT, MX with preference, …) as given."""
    if " " in text:
        return text
    if ":" in text:
        try:
            return norm_ip(text) or text
        except ValueError:
            return text
    return text.rstrip(".").lower()


def _text(arr: pa.Array) -> pa.Array:
    """Text with empty values as null."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    out = arr.cast(pa.string())
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def _ends(get: Get, bad: v.Bad) -> Arrays:
    return {"src_ip": v.addresses(get("id.orig_h"), bad, "id.orig_h"),
            "dst_ip": v.addresses(get("id.resp_h"), bad, "id.resp_h"),
            "src_port": v.ints(get("id.orig_p"), bad, "id.orig_p", pa.int32()),
            "dst_port": v.ints(get("id.resp_p"), bad, "id.resp_p", pa.int32()),
            "ts": v.times(get("ts"), bad), "sensor_uid": _text(get("uid"))}


def _const(n: int, value: Any, typ: pa.DataType) -> pa.Array:
    return pa.array([value] * n, typ)


def _conn(get: Get, bad: v.Bad, n: int) -> Arrays:
    out = _ends(get, bad)
    proto = v.per_value(get("proto"), proto_number, pa.uint8())
    icmp6 = pc.and_(pc.equal(proto, 1), pc.match_substring(pc.fill_null(out["src_ip"], ""), ":"))
    proto = pc.if_else(pc.fill_null(icmp6, False), pa.scalar(58, pa.uint8()), proto)
    proto = pc.coalesce(proto, v.ints(get("ip_proto"), bad, "ip_proto", pa.uint8()))
    label, detail = _text(get("label")), _text(get("detailedlabel"))
    detail = pc.if_else(pc.equal(pc.fill_null(detail, ""), "(empty)"), pa.scalar(None, pa.string()), detail)
    out.update(
        proto=proto, src_port=v.ports_for(out["src_port"], proto), dst_port=v.ports_for(out["dst_port"], proto),
        duration_s=v.floats(get("duration"), bad, "duration"),
        src_packets=v.ints(get("orig_pkts"), bad, "orig_pkts"),
        src_bytes=v.ints(get("orig_ip_bytes"), bad, "orig_ip_bytes"),
        dst_packets=v.ints(get("resp_pkts"), bad, "resp_pkts"),
        dst_bytes=v.ints(get("resp_ip_bytes"), bad, "resp_ip_bytes"),
        app=_text(get("service")),
        label=pc.coalesce(pc.binary_join_element_wise(label, detail, ":"), label),  # "label:detailedlabel"
    )
    return out


def _ssl(get: Get, bad: v.Bad, n: int) -> Arrays:
    out = _ends(get, bad)
    dtls = pc.starts_with(pc.utf8_upper(pc.fill_null(_text(get("version")), "")), "DTLS")
    out.update(proto=pc.if_else(dtls, pa.scalar(17, pa.uint8()), pa.scalar(6, pa.uint8())),
               server_name=v.names(get("server_name")), app=_const(n, "ssl", pa.string()))
    return out


def _http(get: Get, bad: v.Bad, n: int) -> Arrays:
    out = _ends(get, bad)
    out.update(proto=_const(n, 6, pa.uint8()), server_name=v.per_value(get("host"), host_only, pa.string()),
               app=_const(n, "http", pa.string()))
    return out


def _dns(get: Get, bad: v.Bad, n: int, set_sep: str) -> Arrays:
    return {
        "ts": v.times(get("ts"), bad), "sensor_uid": _text(get("uid")),
        "client_ip": v.addresses(get("id.orig_h"), bad, "id.orig_h"),
        "resolver_ip": v.addresses(get("id.resp_h"), bad, "id.resp_h"),
        "query": v.names(get("query")), "qtype": _text(get("qtype_name")), "rcode": _text(get("rcode_name")),
        "answers": v.text_lists(get("answers"), set_sep, answer_text),
        "ttls": v.float_lists(get("TTLs"), set_sep, bad, "TTLs"),
    }


def _notice(get: Get, bad: v.Bad, n: int) -> Arrays:
    src = v.addresses(pc.coalesce(_text(get("id.orig_h")), _text(get("src"))), bad, "src")
    proto = v.per_value(get("proto"), proto_number, pa.uint8())
    return {
        "ts": v.times(get("ts"), bad), "sensor_uid": _text(get("uid")), "src_ip": src,
        "dst_ip": v.addresses(pc.coalesce(_text(get("id.resp_h")), _text(get("dst"))), bad, "dst"),
        "src_port": v.ints(get("id.orig_p"), bad, "id.orig_p", pa.int32()),
        "dst_port": v.ints(pc.coalesce(_text(get("id.resp_p")), _text(get("p"))), bad, "id.resp_p", pa.int32()),
        "proto": proto, "signature": _text(get("msg")), "category": _text(get("note")),
    }


# kind → (table, schema)
KINDS: dict[str, tuple[str, pa.Schema]] = {
    "conn": ("flows", FLOWS), "ssl": ("flows", FLOWS), "http": ("flows", FLOWS),
    "dns": ("dns", DNS), "notice": ("alerts", ALERTS),
}
FIELDS = {  # the fields each kind reads (the rest of a record is never converted)
    "conn": ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
             "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "ip_proto", "label", "detailedlabel"),
    "ssl": ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version", "server_name", "ja3",
            "ja4"),
    "http": ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "host"),
    "dns": ("ts", "uid", "id.orig_h", "id.resp_h", "query", "qtype_name", "rcode_name", "answers", "TTLs"),
    "notice": ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "src", "dst", "p", "proto", "msg",
               "note"),
}


def kind_of_fields(fields: set[str]) -> str | None:
    """Which log a record's field names say it is (Zeek JSON without ``_path``)."""
    if "conn_state" in fields or ("orig_pkts" in fields and "proto" in fields):
        return "conn"
    if "qtype_name" in fields or ("query" in fields and "trans_id" in fields):
        return "dns"
    if "note" in fields:
        return "notice"
    if "method" in fields or ("host" in fields and "uri" in fields) or "trans_depth" in fields:
        return "http"
    if "server_name" in fields or "cipher" in fields or "established" in fields:
        return "ssl"
    return None


class _Batch:
    """Raw records of one kind waiting to be converted: TSV rows (lists of text) or JSON objects."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.rows: list[Any] = []
        self.lines: list[int] = []
        self.fields: list[str] = []  # TSV
        self.unset, self.empty, self.set_sep = "-", "(empty)", ","
        self.fingerprints: pa.RecordBatch | None = None  # ssl: the ``tls`` rows of the last batch converted

    def convert(self, report: InputReport) -> pa.RecordBatch | None:
        n = len(self.rows)
        if n == 0:
            return None
        bad = v.Bad(n)
        if self.fields:  # TSV: a column per needed field, markers mapped
            index = {f: i for i, f in enumerate(self.fields)}
            cols = {f: [r[index[f]] for r in self.rows] for f in FIELDS[self.kind] if f in index}

            def get(name: str) -> pa.Array:
                if name not in cols:
                    return pa.nulls(n, pa.null())
                arr = pa.array(cols[name], pa.string())
                arr = pc.if_else(pc.equal(arr, self.unset), pa.scalar(None, pa.string()), arr)
                return pc.if_else(pc.equal(arr, self.empty), "", arr)
        else:
            def get(name: str) -> pa.Array:  # one value per field, lists only where Zeek logs sets
                values = [r.get(name) for r in self.rows]
                return v.list_column(values, bad, name) if name in LIST_FIELDS else v.column(values, bad, name)

        if self.kind == "dns":
            out = _dns(get, bad, n, self.set_sep)
        else:
            out = {"conn": _conn, "ssl": _ssl, "http": _http, "notice": _notice}[self.kind](get, bad, n)
        schema = KINDS[self.kind][1]
        out["source"] = _const(n, f"zeek_{self.kind}", pa.string())
        out["input"] = _const(n, report.input, pa.string())
        batch = pa.RecordBatch.from_arrays([out[f.name].cast(f.type) if f.name in out else pa.nulls(n, f.type)
                                            for f in schema], schema=schema)
        for i in sorted(bad.why):
            report.line(self.lines[i], f"无法解析的值（{bad.why[i]}）", f"unparsable value ({bad.why[i]})")
        good = pa.array(~bad.mask)
        if self.kind == "ssl":  # the ja3 and ja4 packages' fields, when the sensor runs them
            self.fingerprints = tls_fingerprints(*(pc.filter(a, good) for a in (
                out["sensor_uid"], _text(get("ja3")), _text(get("ja4")))), input_path=report.input)
        if bad.mask.any():
            batch = batch.filter(good)
        self.rows, self.lines = [], []
        return batch


def read_zeek(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS,
              kind: str | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Rows of a Zeek log as (table name, batch). ``kind`` overrides the log kind (conn, dns, …)."""
    pending: dict[str, _Batch] = {}

    def flush(k: str) -> Iterator[tuple[str, pa.RecordBatch]]:
        batch = pending[k].convert(report)
        if batch is not None and batch.num_rows:
            report.count(KINDS[k][0], batch.num_rows)
            yield KINDS[k][0], batch
        fingerprints, pending[k].fingerprints = pending[k].fingerprints, None
        if fingerprints is not None and fingerprints.num_rows:
            yield "tls", fingerprints

    name_kind = kind or _kind_from_name(path)
    json_kind: str | None = name_kind  # for JSON records without _path
    path_kind: str | None = name_kind  # for TSV: from #path
    markers = {"#unset_field": "-", "#empty_field": "(empty)", "#set_separator": ","}
    tsv: _Batch | None = None  # the TSV header in force
    sep = "\t"
    for n, raw in lines(path, report):
        if not raw.strip():
            continue
        if raw[:1] == b"{":
            report.format = "zeek-json" if report.format in ("", "zeek") else report.format
            rec = json_object(n, raw, report)
            if rec is None:
                continue
            json_kind = json_kind or kind_of_fields(set(rec))
            k = kind or rec.get("_path") or json_kind
            if k not in KINDS:
                report.line(n, "无法判断是哪种 Zeek 日志（支持 conn/dns/ssl/http/notice）",
                            "cannot tell which Zeek log this is (conn, dns, ssl, http and notice are read)")
                continue
            b = pending.get(k)
            if b is None or b.fields:  # a JSON batch of its own
                if b is not None:
                    yield from flush(k)
                b = pending[k] = _Batch(k)
            b.rows.append(rec)
            b.lines.append(n)
            if len(b.rows) >= batch_rows:
                yield from flush(k)
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            report.line(n, "不是 UTF-8 文本", "not UTF-8 text")
            continue
        if line.startswith("#"):
            if line.startswith("#separator"):
                sep = _separator(line)
                if not sep:  # one line for it; the log is read as tab-separated, as Zeek writes it
                    report.line(n, f"#separator 行无效（{line[:40]!r}），按制表符分隔读取",
                                f"bad #separator line ({line[:40]!r}), read as tab-separated")
                    sep = "\t"
                continue
            key, _, value = line.partition(sep)
            if key in markers:
                markers[key] = value
            elif key == "#path":
                path_kind = kind or value.strip()
            elif key == "#fields":  # a new header: what follows is read with it
                report.format = "zeek-tsv" if report.format in ("", "zeek") else report.format
                fields = value.split(sep)
                k = path_kind if path_kind in KINDS else kind_of_fields(set(fields))
                if k is None:
                    report.fail(f"不支持的 Zeek 日志（#path {path_kind}）；支持 conn/dns/ssl/http/notice",
                                f"unsupported Zeek log (#path {path_kind}); conn, dns, ssl, http and notice are read")
                    return
                if k in pending:
                    yield from flush(k)
                tsv = pending[k] = _Batch(k)
                tsv.fields = fields
                tsv.unset, tsv.empty, tsv.set_sep = markers["#unset_field"], markers["#empty_field"], \
                    markers["#set_separator"]
            continue
        if tsv is None:
            report.fail("没有 #fields 表头行，也不是 JSON；不是 Zeek 日志",
                        "no #fields header line and not JSON: not a Zeek log")
            return
        values = line.split(sep)
        if len(values) != len(tsv.fields):
            report.line(n, f"有 {len(values)} 列，#fields 有 {len(tsv.fields)} 列",
                        f"{len(values)} fields where #fields has {len(tsv.fields)}")
            continue
        tsv.rows.append(values)
        tsv.lines.append(n)
        if len(tsv.rows) >= batch_rows:
            yield from flush(tsv.kind)
    for k in list(pending):
        yield from flush(k)


def _separator(line: str) -> str:
    """The separator a ``#separator \\x09`` line gives; empty when it gives none that can be used."""
    try:
        sep = line.partition(" ")[2].strip().encode().decode("unicode_escape")
    except UnicodeDecodeError:
        return ""
    return sep if sep and "\n" not in sep and "\r" not in sep else ""


def _kind_from_name(path: Path) -> str | None:
    name = path.name.lower()
    for kind in KINDS:
        if name.startswith(kind + ".") or name.startswith(kind + "_") or f"_{kind}." in name:
            return kind
    return None
