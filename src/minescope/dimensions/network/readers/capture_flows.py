"""Flows from packet captures into the same ``flows`` and ``dns`` tables as the flow logs.

``flows_from_capture(tracker.finish(), tracker.payload, name)`` turns the capture engine's flow
table (``engine.flows.FlowTracker``) into a ``flows`` batch: the initiator becomes ``src``, the
payload class becomes ``app``, the TLS SNI or HTTP Host read from the payload becomes
``server_name``, and the flow's serial becomes ``sensor_uid``. Bytes are whole frames, as the
engine counts them.

What the tracker hands over is what it kept: flows with classified payload, long flows and flows
on pool ports (``engine.flows``: short unclassified flows are only counted, to bound memory).
``dns_from_capture(tracker.dns_seen, name)`` gives the capture's DNS transactions as ``dns`` rows, as
Zeek's dns.log has them: one row per question, with the asking client and the resolver, the query
time, and the response's code, addresses and TTLs when a response was seen (a response is paired with
its query by flow, transaction id and name; a response without a query seen is a row of its own).

``scan FILE`` and ``flows import`` both read a capture into these two tables, so the SQL detectors
judge a capture's flows and DNS the same way on either route.

``tls_from_capture`` gives the ``tls`` rows of the capture's encrypted connections (TLS, and flows shaped
like Stratum V2): ClientHello fingerprints and the message shape the engine measured. They are payload, as
a mining session is: a scan hands them to the detectors beside the flows; an import keeps only the
``flows`` and ``dns`` tables, so a flow dataset holds no payload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from minescope.dimensions.network.capture import packets as pk
from minescope.dimensions.network.capture.flows import DnsSeen, FlowPayload, FlowTracker, ip_str, sv2_shape
from minescope.dimensions.network.protocols.dns import QTYPES, RCODES
from minescope.dimensions.network.readers.pcap import CaptureFile
from minescope.dimensions.network.tables import DNS, FLOWS, PORT_PROTOS, TLS, TLS_MIN_EXCHANGES, epoch_to_ts
from minescope.model import Text
from minescope.readers.names import path_text


def _addresses(hi: np.ndarray, lo: np.ndarray) -> pa.Array:
    pairs = np.stack([hi, lo], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    text = pa.array([ip_str(int(h), int(low)) for h, low in uniq], pa.string())
    return text.take(pa.array(inverse.reshape(-1)))


def flows_from_capture(table: Mapping[str, np.ndarray], payload: Mapping[int, FlowPayload] | None = None,
                       input_name: str = "") -> pa.RecordBatch:
    """The engine's flow table (``FlowTracker.finish()``) as one ``flows`` batch."""
    n = len(table["serial"])
    b_first = table["initiator"] == 1  # b started the flow: b is src

    def pick(a: str, b: str) -> np.ndarray:
        return np.where(b_first, table[b], table[a])

    proto = table["proto"]
    no_ports = ~np.isin(proto, list(PORT_PROTOS))
    names: list[str | None] = [None] * n
    if payload:
        for i, serial in enumerate(table["serial"].tolist()):
            state = payload.get(serial)
            if state is None:
                continue
            if state.sni:
                names[i] = state.sni.lower().rstrip(".")
            elif state.http and state.http.get("host"):
                names[i] = state.http["host"].strip("[]").rstrip(".")
    cls_names = np.array([c if c != "none" else None for c in pk.CLASS_NAMES], dtype=object)
    cols = {
        "ts": epoch_to_ts(pa.array(table["first_ts"])),
        "duration_s": pa.array(np.round(table["last_ts"] - table["first_ts"], 6)),
        "src_ip": _addresses(pick("a_hi", "b_hi"), pick("a_lo", "b_lo")),
        "dst_ip": _addresses(pick("b_hi", "a_hi"), pick("b_lo", "a_lo")),
        "src_port": pa.array(pick("a_port", "b_port").astype(np.int32), mask=no_ports),
        "dst_port": pa.array(pick("b_port", "a_port").astype(np.int32), mask=no_ports),
        "proto": pa.array(proto.astype(np.uint8)),
        "src_packets": pa.array(pick("pkts_ab", "pkts_ba")),
        "src_bytes": pa.array(pick("bytes_ab", "bytes_ba")),
        "dst_packets": pa.array(pick("pkts_ba", "pkts_ab")),
        "dst_bytes": pa.array(pick("bytes_ba", "bytes_ab")),
        "server_name": pa.array(names, pa.string()),
        "app": pa.array(cls_names[table["cls"].astype(np.intp)].tolist(), pa.string()),
        "sensor_uid": pa.array(table["serial"]).cast(pa.string()),
        "source": pa.array(["capture"] * n, pa.string()),
        "input": pa.array([input_name] * n, pa.string()),
    }
    arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in FLOWS]
    return pa.RecordBatch.from_arrays(arrays, schema=FLOWS)


def tls_from_capture(table: Mapping[str, np.ndarray], payload: Mapping[int, FlowPayload] | None = None,
                     input_name: str = "") -> pa.RecordBatch:
    """The ``tls`` rows of the engine's flow table: TLS connections with ``TLS_MIN_EXCHANGES`` share-like
    exchanges or more, and flows shaped like Stratum V2 (what ``detectors.encrypted`` scores)."""
    if len(table["serial"]) == 0:
        return pa.RecordBatch.from_pylist([], schema=TLS)
    sv2 = sv2_shape(table)
    rows = np.flatnonzero(((table["cls"] == pk.C_TLS) & (table["xchg"] >= TLS_MIN_EXCHANGES)) | sv2)
    ja3: list[str | None] = []
    ja4: list[str | None] = []
    for serial in table["serial"][rows].tolist():
        state = payload.get(serial) if payload else None
        hello = state.hello if state is not None else None
        ja3.append(hello.ja3 if hello is not None else None)
        ja4.append(hello.ja4 if hello is not None else None)
    xchg = table["xchg"][rows]
    has = xchg > 0
    intervals = np.maximum(xchg - 1, 0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = table["gap_sum"][rows] / intervals
        var = np.maximum(table["gap_sq"][rows] / intervals - mean * mean, 0.0)
        cv = np.sqrt(var) / mean
    handshake = ["sv2_plain" if plain else "sv2_noise" if noise else None
                 for plain, noise in zip((table["sv2"][rows] == 1).tolist(), sv2[rows].tolist(), strict=True)]
    cols = {
        "sensor_uid": pa.array(table["serial"][rows]).cast(pa.string()),
        "input": pa.array([input_name] * len(rows), pa.string()),
        "ja3": pa.array(ja3, pa.string()), "ja4": pa.array(ja4, pa.string()),
        "exchanges": pa.array(xchg.astype(np.int32)),
        "exchange_min": pa.array(table["xchg_min"][rows].astype(np.int32), mask=~has),
        "exchange_max": pa.array(table["xchg_max"][rows].astype(np.int32), mask=~has),
        "answer_min": pa.array(table["ack_min"][rows].astype(np.int32), mask=~has),
        "answer_max": pa.array(table["ack_max"][rows].astype(np.int32), mask=~has),
        "exchange_cv": pa.array(np.round(np.nan_to_num(cv), 4), mask=(intervals < 2) | ~(mean > 0)),
        "pushes": pa.array(table["push"][rows].astype(np.int32)),
        "handshake": pa.array(handshake, pa.string()),
    }
    return pa.RecordBatch.from_arrays([cols[f.name] for f in TLS], schema=TLS)


def dns_from_capture(seen: Sequence[DnsSeen], input_name: str = "") -> pa.RecordBatch:
    """The capture's DNS messages (``FlowTracker.dns_seen``) as ``dns`` rows, one per transaction and name."""
    # A row: [ts, client_ip, resolver_ip, query, qtype, rcode, answers, ttls, sensor_uid]; rcode None while
    # the query is open. Lists rather than dicts, and answers worked out only when a row takes them: a DNS
    # tunnel gives tens of thousands of messages.
    rows: list[list[Any]] = []
    open_rows: dict[tuple[int, int, str], list[Any]] = {}  # (flow, transaction id, name) → its row
    for m in sorted(seen, key=lambda m: (m.serial, m.ts)):
        msg = m.message
        response = msg.is_response
        if msg.answers:
            names = list(dict.fromkeys([*msg.qnames, *(name for name, _ in msg.answers)]))
        else:
            names = list(dict.fromkeys(msg.qnames))
        uid: str | None = None
        for i, name in enumerate(names):
            query = name.lower().rstrip(".")
            key = (m.serial, msg.qid, query)
            row = open_rows.get(key)
            if row is not None and row[5] is None:  # the query is open
                if response:  # its response
                    row[5], row[6], row[7] = _rcode(msg.rcode), *_answers(msg, name)
                continue  # else a retransmitted query
            if response:
                answers, ttls = _answers(msg, name)
                if row is not None and row[6] == answers:
                    continue  # a retransmitted response
            qtype = msg.qtypes[i] if i < len(msg.qtypes) else None
            if uid is None:
                uid = str(m.serial)
            qtext = QTYPES.get(qtype, str(qtype)) if qtype is not None else None
            row = [m.ts, m.client_ip, m.resolver_ip, query, qtext, _rcode(msg.rcode) if response else None,
                   answers if response else None, ttls if response else None, uid]
            open_rows[key] = row
            rows.append(row)
    rows.sort(key=lambda r: (r[0], r[8], r[3]))
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    arrays = {
        "ts": epoch_to_ts(pa.array(cols[0], pa.float64())),
        **{name: pa.array(cols[i], DNS.field(name).type) for i, name in enumerate(
            ("client_ip", "resolver_ip", "query", "qtype", "rcode", "answers", "ttls", "sensor_uid"), start=1)},
        "source": pa.array(["capture"] * n, pa.string()),
        "input": pa.array([input_name] * n, pa.string()),
    }
    return pa.RecordBatch.from_arrays([arrays[f.name] for f in DNS], schema=DNS)


def _answers(msg: Any, name: str) -> tuple[list[str], list[float]]:
    """A response's addresses and TTLs for one name."""
    answers = [address for n, address in msg.answers if n == name]
    ttls = [float(t) for (n, _), t in zip(msg.answers, msg.ttls, strict=False) if n == name]
    return answers, ttls


def _rcode(code: int) -> str:
    return RCODES.get(code, str(code))


def read_capture(path: Path, interesting_name: Callable[[str], bool],
                 idle_timeout: float = 3600.0) -> tuple[pa.RecordBatch, pa.RecordBatch, Text | None]:
    """A capture file's ``flows`` and ``dns`` batches (what the capture engine keeps, see above), and
    what could not be read of it. ``interesting_name`` marks the DNS names whose flows are kept."""
    tracker = FlowTracker(idle_timeout, interesting_name)
    capture = CaptureFile(path)  # which packets it gives (times included) is the scan's own choice
    for block in capture.blocks():
        tracker.feed(block)
    name = path_text(path.name)
    return (flows_from_capture(tracker.finish(), tracker.payload, name),
            dns_from_capture(tracker.dns_seen, name), capture.problem)
