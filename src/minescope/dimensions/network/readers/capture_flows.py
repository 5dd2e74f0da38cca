"""Flows from packet captures into the same ``flows`` and ``dns`` tables as the flow logs.

``flows_from_capture(tracker.finish(), tracker.payload, name)`` turns the capture engine's flow
table (``engine.flows.FlowTracker``) into a ``flows`` batch: the initiator becomes ``src``, the
payload class becomes ``app``, the TLS SNI or HTTP Host read from the payload becomes
``server_name``, and the flow's serial becomes ``sensor_uid``. Bytes are whole frames, as the
engine counts them.

What the tracker hands over is what it kept: flows with classified payload, long flows and flows
on pool ports (``engine.flows``: short unclassified flows are only counted, to bound memory).
``dns_from_capture(tracker.pdns, name)`` gives the DNS answers the engine saw (name → address),
one row per answer, without the asking client (the engine keeps passive DNS per address).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa

from minescope.dimensions.network.capture import packets as pk
from minescope.dimensions.network.capture.flows import DnsAnswer, FlowPayload, FlowTracker, ip_str
from minescope.dimensions.network.readers.pcap import CaptureFile
from minescope.dimensions.network.tables import DNS, FLOWS, PORT_PROTOS, Columns, epoch_to_ts
from minescope.model import Text


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


def dns_from_capture(pdns: Mapping[str, list[DnsAnswer]], input_name: str = "") -> pa.RecordBatch:
    """Passive DNS seen in a capture (address → names it was given) as ``dns`` rows."""
    out = Columns(DNS, batch_rows=1 << 62, source="capture", input=input_name)
    for address, answers in pdns.items():
        for a in answers:
            out.add(ts=a.ts, query=a.name.lower().rstrip("."), rcode="NOERROR", answers=[address])
    return out.take()


def read_capture(path: Path, interesting_name: Callable[[str], bool],
                 idle_timeout: float = 3600.0) -> tuple[pa.RecordBatch, pa.RecordBatch, Text | None]:
    """A capture file's ``flows`` and ``dns`` batches (what the capture engine keeps, see above), and
    what could not be read of it. ``interesting_name`` marks the DNS names whose flows are kept."""
    tracker = FlowTracker(idle_timeout, interesting_name)
    capture = CaptureFile(path)
    for block in capture.blocks():
        tracker.feed(block)
    return (flows_from_capture(tracker.finish(), tracker.payload, path.name),
            dns_from_capture(tracker.pdns, path.name), capture.problem)
