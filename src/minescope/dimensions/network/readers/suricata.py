"""Suricata EVE JSON (one event per line; plain or gzip): flow, netflow, dns, tls, http and alert events.

  flow     → ``flows`` (start/end from ``flow.start``/``flow.end``; toserver is src; app_proto)
  netflow  → ``flows`` (one direction per event: ``dst_*`` null)
  tls      → ``flows`` name row (``server_name`` = SNI), and a ``tls`` row of ``tls.ja3.hash``/``tls.ja4`` when
             Suricata logs them; http → name row (``server_name`` = hostname)
  dns      → ``dns``: the three EVE formats — v1 (one event per query and per answer), v2 (``answers``
             list and/or ``grouped``) and v3 of Suricata 8 (``queries``/``answers`` lists); an
             answer logged in its own direction (source port 53) is turned round
  alert    → ``alerts``
Other event types (fileinfo, anomaly, stats, …) are passed over. ``flow_id`` becomes ``sensor_uid``.
Suricata counts bytes of whole frames (link-layer header included).

Python parses each line (orjson) and picks out the raw values; a batch is converted a column at a
time by Arrow (``vector``), ISO 8601 times included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.network.readers import vector as v
from minescope.dimensions.network.readers.zeek import answer_text, host_only
from minescope.dimensions.network.tables import ALERTS, BATCH_ROWS, DNS, FLOWS, proto_number, tls_fingerprints
from minescope.readers.report import InputReport
from minescope.readers.textio import json_object, lines

Event = dict[str, Any]
ENDS = ("ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto", "flow_id")
# raw values picked from each kind of event, in this order
RAW = {
    "flow": (*ENDS, "end", "src_packets", "src_bytes", "dst_packets", "dst_bytes", "tcp_flags", "app"),
    "netflow": (*ENDS, "end", "src_packets", "src_bytes", "tcp_flags", "app"),
    "tls": (*ENDS, "name", "ja3", "ja4"),
    "http": (*ENDS, "name"),
    "alert": (*ENDS, "signature", "signature_id", "category", "severity"),
    "dns": ("ts", "client_ip", "resolver_ip", "query", "qtype", "rcode", "answers", "ttls", "flow_id"),
}
LISTS = frozenset({"answers", "ttls"})  # the raw values that are lists; every other one is text or a number
EVE_NAME = {"ts": "timestamp", "dst_ip": "dest_ip", "dst_port": "dest_port", "end": "flow.end", "app": "app_proto",
            "name": "hostname/sni", "query": "rrname", "qtype": "rrtype", "client_ip": "src_ip",
            "resolver_ip": "dest_ip", "ttls": "ttl"}  # raw value → the EVE field named in problem lines
TABLE = {"flow": "flows", "netflow": "flows", "tls": "flows", "http": "flows", "dns": "dns", "alert": "alerts"}
SCHEMA = {"flows": FLOWS, "dns": DNS, "alerts": ALERTS}


def _ends(e: Event, ts: Any = None) -> tuple[Any, ...]:
    return (ts or e["timestamp"], e.get("src_ip"), e.get("dest_ip"), e.get("src_port"), e.get("dest_port"),
            e.get("proto"), e.get("flow_id"))


def _raw(e: Event) -> tuple[str, tuple[Any, ...]] | None:
    """(kind, raw values in ``RAW[kind]`` order) for an event, or None for types not read."""
    t = e.get("event_type")
    if t == "flow" or t == "netflow":
        f = e.get(t) or {}
        flags = (e.get("tcp") or {}).get("tcp_flags")
        if t == "flow":
            counts: tuple[Any, ...] = (f.get("pkts_toserver"), f.get("bytes_toserver"), f.get("pkts_toclient"),
                                       f.get("bytes_toclient"))
        else:
            counts = (f.get("pkts"), f.get("bytes"))
        return t, (*_ends(e, f.get("start")), f.get("end"), *counts, flags, e.get("app_proto"))
    if t == "tls":
        tls = e.get("tls") or {}
        ja3 = tls.get("ja3")
        return t, (*_ends(e), tls.get("sni"), ja3.get("hash") if isinstance(ja3, dict) else None, tls.get("ja4"))
    if t == "http":
        return t, (*_ends(e), (e.get("http") or {}).get("hostname"))
    if t == "alert":
        a = e.get("alert") or {}
        return t, (*_ends(e), a.get("signature"), a.get("signature_id"), a.get("category"), a.get("severity"))
    if t == "dns":
        return t, _dns(e)
    return None


def _dns(e: Event) -> tuple[Any, ...]:
    d = e.get("dns") or {}
    client, resolver = e.get("src_ip"), e.get("dest_ip")
    if e.get("src_port") == 53 and e.get("dest_port") != 53:  # an answer logged in its own direction
        client, resolver = resolver, client
    kind = d.get("type")
    if "queries" in d:  # v3
        q = (d.get("queries") or [{}])[0]
        query, qtype = q.get("rrname"), q.get("rrtype")
    else:
        query, qtype = d.get("rrname"), d.get("rrtype")
    answers: list[str] = []
    ttls: list[Any] | None = []
    if isinstance(d.get("answers"), list):  # v2 and v3
        for a in d["answers"]:
            if isinstance(a, dict) and a.get("rdata") is not None:
                answers.append(str(a["rdata"]))
                ttls.append(a.get("ttl"))  # type: ignore[union-attr]
    elif isinstance(d.get("grouped"), dict):  # v2, grouped only: no TTLs
        for values in d["grouped"].values():
            answers.extend(str(x) for x in values if isinstance(x, (str, int)))
        ttls = None
    elif kind == "answer" and d.get("rdata") is not None:  # v1: one event per answer
        answers.append(str(d["rdata"]))
        ttls.append(d.get("ttl"))  # type: ignore[union-attr]
    rcode = d.get("rcode")
    if kind in ("query", "request"):
        rcode = None
    elif rcode is None and kind in ("answer", "response"):
        rcode = "NOERROR" if answers else None
    return (e["timestamp"], client, resolver, query, qtype, rcode, answers, ttls or None, e.get("flow_id"))


def _convert(kind: str, rows: list[tuple[Any, ...]], report: InputReport,
             line_of: list[int]) -> tuple[pa.RecordBatch, pa.RecordBatch | None]:
    """The rows of one table, and for tls events their ``tls`` rows (ClientHello fingerprints)."""
    n = len(rows)
    bad = v.Bad(n)
    raw = {name: (v.list_column if name in LISTS else v.column)(list(values), bad, EVE_NAME.get(name, name))
           for name, values in zip(RAW[kind], zip(*rows, strict=True), strict=True)}
    out: dict[str, pa.Array] = {"ts": v.times(raw["ts"], bad, "timestamp"),
                                "sensor_uid": raw["flow_id"].cast(pa.string())}
    if kind == "dns":
        out.update(
            client_ip=v.addresses(raw["client_ip"], bad, "src_ip"),
            resolver_ip=v.addresses(raw["resolver_ip"], bad, "dest_ip"),
            query=v.names(raw["query"]), qtype=raw["qtype"].cast(pa.string()), rcode=raw["rcode"].cast(pa.string()),
            answers=v.text_lists(raw["answers"], ";", answer_text), ttls=v.float_lists(raw["ttls"], ";", bad, "ttl"),
        )
    else:
        proto = v.per_value(raw["proto"], lambda p: proto_number(str(p)), pa.uint8())
        out.update(
            src_ip=v.addresses(raw["src_ip"], bad, "src_ip"), dst_ip=v.addresses(raw["dst_ip"], bad, "dest_ip"),
            proto=proto, src_port=v.ports_for(v.ints(raw["src_port"], bad, "src_port", pa.int32()), proto),
            dst_port=v.ports_for(v.ints(raw["dst_port"], bad, "dest_port", pa.int32()), proto),
        )
    if kind in ("flow", "netflow"):
        end = v.times(raw["end"], bad, "end")
        micros = pc.subtract(end.cast(pa.int64()), out["ts"].cast(pa.int64()))
        app = raw["app"].cast(pa.string())
        out.update(
            duration_s=pc.divide(micros.cast(pa.float64()), 1e6),
            src_packets=v.ints(raw["src_packets"], bad, "packets"), src_bytes=v.ints(raw["src_bytes"], bad, "bytes"),
            tcp_flags=v.per_value(raw["tcp_flags"], lambda h: int(h, 16), pa.uint8(), bad, "tcp_flags"),
            app=pc.if_else(pc.equal(app, "failed"), pa.scalar(None, pa.string()), app),
        )
        if kind == "flow":
            out.update(dst_packets=v.ints(raw["dst_packets"], bad, "packets"),
                       dst_bytes=v.ints(raw["dst_bytes"], bad, "bytes"))
    elif kind == "tls":
        out.update(server_name=v.names(raw["name"]), app=pa.array(["tls"] * n, pa.string()))
    elif kind == "http":
        out.update(server_name=v.per_value(raw["name"], host_only, pa.string()),
                   app=pa.array(["http"] * n, pa.string()))
    elif kind == "alert":
        out.update(signature=raw["signature"].cast(pa.string()), category=raw["category"].cast(pa.string()),
                   signature_id=v.ints(raw["signature_id"], bad, "signature_id"),
                   severity=v.ints(raw["severity"], bad, "severity", pa.int32()))
    schema = SCHEMA[TABLE[kind]]
    out["source"] = pa.array([f"suricata_{kind}"] * n, pa.string())
    out["input"] = pa.array([report.input] * n, pa.string())
    batch = pa.RecordBatch.from_arrays([out[f.name].cast(f.type) if f.name in out else pa.nulls(n, f.type)
                                        for f in schema], schema=schema)
    for i in sorted(bad.why):
        report.line(line_of[i], f"{kind} 事件的值无法解析（{bad.why[i]}）",
                    f"{kind} event with an unparsable value ({bad.why[i]})")
    good = pa.array(~bad.mask)
    fingerprints = tls_fingerprints(*(pc.filter(a.cast(pa.string()), good) for a in (
        out["sensor_uid"], raw["ja3"], raw["ja4"])), input_path=report.input) if kind == "tls" else None
    return (batch.filter(good) if bad.mask.any() else batch), fingerprints


def read_eve(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Rows of a Suricata EVE file as (table name, batch)."""
    report.format = report.format or "suricata-eve"
    pending: dict[str, tuple[list[tuple[Any, ...]], list[int]]] = {}

    def flush(kind: str) -> Iterator[tuple[str, pa.RecordBatch]]:
        rows, line_of = pending.pop(kind)
        batch, fingerprints = _convert(kind, rows, report, line_of)
        if batch.num_rows:
            report.count(TABLE[kind], batch.num_rows)
            yield TABLE[kind], batch
        if fingerprints is not None and fingerprints.num_rows:
            yield "tls", fingerprints

    for n, raw in lines(path, report):
        if not raw.strip():
            continue
        e = json_object(n, raw, report)
        if e is None:
            continue
        if "event_type" not in e:
            report.line(n, "没有 event_type 字段，不是 Suricata EVE 事件", "no event_type: not a Suricata EVE event")
            continue
        try:
            got = _raw(e)
        except (KeyError, TypeError, AttributeError) as err:
            report.line(n, f"{e.get('event_type')} 事件缺少字段（{err!r}）",
                        f"{e.get('event_type')} event with a missing field ({err!r})")
            continue
        if got is None:
            continue
        kind, values = got
        rows, line_of = pending.setdefault(kind, ([], []))
        rows.append(values)
        line_of.append(n)
        if len(rows) >= batch_rows:
            yield from flush(kind)
    for kind in list(pending):
        yield from flush(kind)
