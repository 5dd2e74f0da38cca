"""NetFlow v5, v9 (RFC 3954) and IPFIX (RFC 7011) export packets → ``flows`` rows.

Three ways in, one decoder:
  * ``read_export_stream(path)``: a file of export packets back to back, as a UDP collector dumps
    them (IPFIX files per RFC 5655 are this too); plain or gzip;
  * ``read_export_capture(path)``: a pcap/pcapng capture of export traffic (UDP to 2055, 4739, 9995, …);
  * ``Collector(host, port)``: a UDP socket receiving export packets live.

v9 and IPFIX records are described by templates the exporter sends every few minutes; the decoder
caches them per exporter (address and port), observation domain (IPFIX) or source id (v9), and
template id, and skips (with a count) data sets that arrive before their template. Options
templates are parsed so their data sets can be skipped; the one options value used is
systemInitTimeMilliseconds (IE 160), which IPFIX exporters such as softflowd need to date
flowStartSysUpTime. IPFIX variable-length elements and enterprise-specific elements are parsed;
RFC 5103 reverse elements (enterprise 29305) fill the ``dst_*`` counters of biflows.

Why not the ``netflow`` package (bitkeks, MIT): it builds a Python dict per flow (about 35 k flows/s
here), raises on IPFIX variable-length and reduced-size fields and on unknown elements, and loses a
whole packet on a data set without template. Here records of one template are gathered as raw bytes
and decoded with numpy a batch at a time, so the Python work is per export set, not per flow.
"""

from __future__ import annotations

import re
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.network.tables import BATCH_ROWS, FLOWS, PORT_PROTOS
from minescope.readers.report import InputReport
from minescope.readers.textio import open_input
from minescope.readers.values import epoch_ts

EXPORT_PORTS = frozenset({2055, 2056, 4739, 9995, 9996})  # the usual NetFlow/IPFIX collector ports
SOURCE = {5: "netflow_v5", 9: "netflow_v9", 10: "ipfix"}
VARIABLE = 65535
REVERSE_PEN = 29305  # RFC 5103 reverse information elements
NTP_EPOCH = 2208988800  # seconds from 1900-01-01 to 1970-01-01
MAX_PACKET = 65535
_VERSION = re.compile(b"\x00[\x05\x09\x0a]")  # where an export packet header may start
SLACK_MS = 3_600_000
NO_INIT = ("记录中没有可用的流开始时间（IPFIX 缺少 systemInitTimeMilliseconds）；以导出时间代替",
           "records carry no usable flow start time (IPFIX without systemInitTimeMilliseconds); "
           "the export time stands in")  # flows may end up to an hour after the export time (exporter clocks)

# Time elements by id, for problem lines (v5 records and v9 FIRST/LAST_SWITCHED are the SysUpTime ones).
TIME_IES = {150: "flowStartSeconds", 151: "flowEndSeconds", 152: "flowStartMilliseconds", 153: "flowEndMilliseconds",
            154: "flowStartMicroseconds", 155: "flowEndMicroseconds", 156: "flowStartNanoseconds",
            157: "flowEndNanoseconds", 158: "flowStartDeltaMicroseconds", 159: "flowEndDeltaMicroseconds",
            22: "flowStartSysUpTime", 21: "flowEndSysUpTime"}

# NetFlow v5 records as a fixed template: (element id, length) in wire order.
V5_FIELDS = ((8, 4), (12, 4), (15, 4), (10, 2), (14, 2), (2, 4), (1, 4), (22, 4), (21, 4), (7, 2), (11, 2),
             (0, 1), (6, 1), (4, 1), (5, 1), (16, 2), (17, 2), (9, 1), (13, 1), (0, 2))

# Where each flows column comes from: information elements (enterprise, id), first present wins.
SRC_V4, DST_V4, SRC_V6, DST_V6 = (0, 8), (0, 12), (0, 27), (0, 28)
COUNTERS = {
    "src_bytes": ((0, 1), (0, 85), (0, 231)),  # octetDeltaCount, octetTotalCount, initiatorOctets
    "src_packets": ((0, 2), (0, 86), (0, 298)),
    "dst_bytes": ((REVERSE_PEN, 1), (REVERSE_PEN, 85), (0, 232)),  # reverse*, responderOctets
    "dst_packets": ((REVERSE_PEN, 2), (REVERSE_PEN, 86), (0, 299)),
}


@dataclass(frozen=True)
class Field:
    ie: int
    length: int
    pen: int = 0  # enterprise number; 0 for IANA elements


@dataclass
class Template:
    fields: tuple[Field, ...]
    options: bool = False
    offsets: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (pen, ie) → (offset, len)
    size: int = 0  # record size; for variable-length templates the smallest possible
    variable: bool = False
    fixed: Template | None = None  # variable-length template: its fixed-length fields, repacked

    def __post_init__(self) -> None:
        off = 0
        for f in self.fields:
            if f.length == VARIABLE:
                self.variable = True
                off += 1
                continue
            self.offsets.setdefault((f.pen, f.ie), (off, f.length))
            off += f.length
        self.size = off
        if self.variable and not self.options:
            self.fixed = Template(tuple(f for f in self.fields if f.length != VARIABLE))


V5_TEMPLATE = Template(tuple(Field(ie, n) for ie, n in V5_FIELDS))


@dataclass
class _Pending:
    """Raw records of one template waiting to be decoded, with what dates them."""

    version: int
    template: Template
    chunks: list[bytes] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    export_s: list[float] = field(default_factory=list)  # export time of each chunk's packet
    uptime_ms: list[int] = field(default_factory=list)  # v5/v9 header sysUptime
    init_ms: list[float] = field(default_factory=list)  # IPFIX systemInitTimeMilliseconds (nan: unknown)
    rows: int = 0


class Decoder:
    """Decodes export packets from any number of exporters into ``flows`` batches."""

    def __init__(self, report: InputReport, input_name: str, batch_rows: int = BATCH_ROWS) -> None:
        self.report = report
        self.input_name = input_name
        self.batch_rows = batch_rows
        self.templates: dict[tuple[int, str, int, int], Template] = {}  # (version, exporter, domain, id)
        self.init_ms: dict[tuple[str, int], float] = {}
        self.pending: dict[tuple[int, str, int, int], _Pending] = {}
        self.rows = 0
        self.packets = 0
        self._warned: set[str] = set()
        self._ready: list[pa.RecordBatch] = []
        self._seen_sets: set[tuple[int, str, int, bytes]] = set()  # template sets already applied

    # --- packets ----------------------------------------------------------------------------
    def feed(self, data: bytes, exporter: str = "", offset: int = 0) -> None:
        """One export packet; ``offset`` says where it starts in the input, for problem lines."""
        self.packets += 1
        if len(data) < 4:
            self.report.at(offset, "导出报文不完整（不足 4 字节）", "export packet cut short (under 4 bytes)", "packet")
            return
        version = int.from_bytes(data[:2], "big")
        if version == 5:
            self._v5(data, offset)
        elif version == 9:
            self._sets(data, exporter, offset, 9)
        elif version == 10:
            self._sets(data, exporter, offset, 10)
        else:
            self.report.at(offset, f"不是 NetFlow v5/v9 或 IPFIX 报文（版本号 {version}）",
                           f"not a NetFlow v5/v9 or IPFIX packet (version {version})", "packet")

    def _v5(self, data: bytes, offset: int) -> None:
        if len(data) < 24:
            self.report.at(offset, "NetFlow v5 报文头不完整", "NetFlow v5 header cut short", "packet")
            return
        count, uptime, secs, nsecs = struct.unpack_from("!HIII", data, 2)
        have = (len(data) - 24) // 48
        if have < count:
            self.report.at(offset, f"NetFlow v5 报文声明 {count} 条记录，只有 {have} 条完整",
                           f"NetFlow v5 packet says {count} records but holds {have} whole ones", "record")
        n = min(count, have)
        if n:
            self._add(5, "", 0, 0, V5_TEMPLATE, data[24 : 24 + 48 * n], n, secs + nsecs / 1e9, uptime)

    def _sets(self, data: bytes, exporter: str, offset: int, version: int) -> None:
        if version == 9:
            head = 20
            if len(data) < head:
                self.report.at(offset, "NetFlow v9 报文头不完整", "NetFlow v9 header cut short", "packet")
                return
            _, _, uptime, secs, _, domain = struct.unpack_from("!HHIIII", data)
            end = len(data)
            tmpl_ids, opt_ids = (0,), (1,)
        else:
            head = 16
            if len(data) < head:
                self.report.at(offset, "IPFIX 报文头不完整", "IPFIX message header cut short", "packet")
                return
            _, length, secs, _, domain = struct.unpack_from("!HHIII", data)
            uptime = -1
            if length < head or length > len(data):
                self.report.at(offset, f"IPFIX 报文长度字段 {length} 与实际 {len(data)} 字节不符",
                               f"IPFIX message length {length} does not match its {len(data)} bytes", "packet")
                if length < head:
                    return
            end = min(length, len(data))
            tmpl_ids, opt_ids = (2,), (3,)
        pos = head
        while pos + 4 <= end:
            set_id, set_len = struct.unpack_from("!HH", data, pos)
            if set_len < 4 or pos + set_len > end:
                self.report.at(offset + pos, f"数据集长度 {set_len} 无效（超出报文或过短），报文其余部分无法读取",
                               f"set length {set_len} is invalid (past the packet's end or too short); "
                               "the rest of the packet is unreadable", "set")
                return
            body = data[pos + 4 : pos + set_len]
            if set_id in tmpl_ids or set_id in opt_ids:
                self._templates(body, version, exporter, domain, set_id in opt_ids, offset + pos + 4)
            elif set_id >= 256:
                self._data(body, version, exporter, domain, set_id, secs, uptime, offset + pos)
            else:
                self.report.at(offset + pos, f"保留的数据集编号 {set_id}", f"reserved set id {set_id}", "set")
            pos += set_len

    def _templates(self, body: bytes, version: int, exporter: str, domain: int, options: bool, offset: int) -> None:
        seen = (version, exporter, domain, body)
        if seen in self._seen_sets:  # resent unchanged (many exporters send templates in every packet)
            return
        pos = 0
        while len(body) - pos >= 4:
            start = pos
            tid, count = struct.unpack_from("!HH", body, pos)
            pos += 4
            if options and version == 9:  # v9: scope length and option length, in bytes
                if len(body) - pos < 2:
                    break
                scope_len = struct.unpack_from("!H", body, pos)[0]
                pos += 2
                count = (count + scope_len) // 4
            elif options:  # IPFIX: field count, then scope field count
                if len(body) - pos < 2:
                    break
                pos += 2
            if tid < 256:
                if tid == 0 and count == 0:
                    break  # padding
                if version == 10 and tid in (2, 3) and count == 0:  # withdraw all templates (RFC 7011 §8.1)
                    for key in [k for k, t in self.templates.items()
                                if k[:3] == (version, exporter, domain) and t.options == (tid == 3)]:
                        del self.templates[key]
                    self._seen_sets.clear()
                    continue
                self.report.at(offset + start, f"模板编号 {tid} 无效（应 ≥256）",
                               f"template id {tid} is invalid (must be ≥256)", "set")
                return
            fields = []
            for _ in range(count):
                if len(body) - pos < 4:
                    self.report.at(offset + start, f"模板 {tid} 在数据集末尾被截断",
                                   f"template {tid} is cut off at the set's end", "set")
                    return
                ie, length = struct.unpack_from("!HH", body, pos)
                pos += 4
                pen = 0
                if version == 10 and ie & 0x8000:
                    if len(body) - pos < 4:
                        self.report.at(offset + start, f"模板 {tid} 在数据集末尾被截断",
                                       f"template {tid} is cut off at the set's end", "set")
                        return
                    pen = struct.unpack_from("!I", body, pos)[0]
                    pos += 4
                    ie &= 0x7FFF
                if version == 9 and length == VARIABLE:
                    length = 0  # v9 has no variable-length fields: a bogus template
                fields.append(Field(ie, length, pen))
            key = (version, exporter, domain, tid)
            if not fields:  # IPFIX template withdrawal (RFC 7011 §8.1)
                self.templates.pop(key, None)
                self._seen_sets.clear()
                continue
            template = Template(tuple(fields), options)
            if template.size == 0 and not template.variable:
                self.report.at(offset + start, f"模板 {tid} 的记录长度为 0", f"template {tid} has zero-length records",
                               "set")
                continue
            old = self.templates.get(key)
            if old == template:
                continue  # the same template again (exporters resend them): keep the one in use
            if key in self.pending:
                self._flush_key(key)  # records of the old template are decoded with it
            self.templates[key] = template
            self._seen_sets.clear()
        if len(self._seen_sets) > 4096:
            self._seen_sets.clear()
        self._seen_sets.add(seen)

    def _data(self, body: bytes, version: int, exporter: str, domain: int, tid: int, secs: int, uptime: int,
              offset: int) -> None:
        key = (version, exporter, domain, tid)
        template = self.templates.get(key)
        if template is None:
            where = f" {exporter}" if exporter else ""
            self.report.at(offset, f"数据集使用的模板 {tid} 尚未收到（导出器{where} 域 {domain}；"
                           "模板每隔几分钟重发，之前的记录无法解码）",
                           f"data set for template {tid} that has not been received (exporter{where} domain {domain}; "
                           "exporters resend templates every few minutes, records before that cannot be decoded)",
                           "set")
            return
        if template.options:
            self._options(template, body, exporter, domain)
            return
        if template.fixed is not None:  # variable-length records: their fixed-length fields
            body, n = self._repack(template, body, offset)
            template = template.fixed
        else:
            n = len(body) // template.size
            body = body[: n * template.size]  # the rest is padding
        if n:
            self._add(version, exporter, domain, tid, template, body, n, float(secs), uptime)

    def _repack(self, template: Template, body: bytes, offset: int) -> tuple[bytes, int]:
        """Variable-length records → the same records with only their fixed-length fields."""
        out = bytearray()
        pos = n = 0
        while len(body) - pos >= template.size and template.size > 0:
            rec = bytearray()
            for f in template.fields:
                if f.length == VARIABLE:
                    if pos >= len(body):
                        break
                    ln = body[pos]
                    pos += 1
                    if ln == 255:
                        if pos + 2 > len(body):
                            pos = len(body) + 1
                            break
                        ln = int.from_bytes(body[pos : pos + 2], "big")
                        pos += 2
                    pos += ln
                else:
                    rec += body[pos : pos + f.length]
                    pos += f.length
                if pos > len(body):
                    break
            if pos > len(body):
                self.report.at(offset, "变长记录超出数据集末尾", "a variable-length record runs past the set's end",
                               "record")
                break
            out += rec
            n += 1
        return bytes(out), n

    def _options(self, template: Template, body: bytes, exporter: str, domain: int) -> None:
        """Options records: only systemInitTimeMilliseconds (IE 160) is kept."""
        where = template.offsets.get((0, 160))
        if where is None or template.variable or template.size == 0:
            return
        off, ln = where
        if ln > 8:
            return
        for start in range(0, len(body) - template.size + 1, template.size):
            value = int.from_bytes(body[start + off : start + off + ln], "big")
            if value:
                self.init_ms[(exporter, domain)] = float(value)

    def _add(self, version: int, exporter: str, domain: int, tid: int, template: Template, body: bytes, n: int,
             export_s: float, uptime: int) -> None:
        key = (version, exporter, domain, tid)
        p = self.pending.get(key)
        if p is None or p.template is not template:
            if p is not None:
                self._flush_key(key)
            p = self.pending[key] = _Pending(version, template)
        p.chunks.append(body)
        p.counts.append(n)
        p.export_s.append(export_s)
        p.uptime_ms.append(uptime)
        p.init_ms.append(self.init_ms.get((exporter, domain), np.nan))
        p.rows += n
        self.rows += n

    # --- batches ----------------------------------------------------------------------------
    def _flush_key(self, key: tuple[int, str, int, int]) -> None:
        p = self.pending.pop(key, None)
        if p is not None and p.rows:
            self._ready.append(self._decode(p, key))
            self.rows -= p.rows

    def batches(self, final: bool = False) -> Iterator[pa.RecordBatch]:
        """Decoded batches, once enough rows are waiting (or all of them when ``final``)."""
        if final or self.rows >= self.batch_rows:
            for key in list(self.pending):
                self._flush_key(key)
        ready, self._ready = self._ready, []
        for batch in ready:
            self.report.count("flows", batch.num_rows)
            yield batch

    def _decode(self, p: _Pending, key: tuple[int, str, int, int]) -> pa.RecordBatch:
        t = p.template
        n = p.rows
        recs = np.frombuffer(b"".join(p.chunks), np.uint8).reshape(n, t.size)
        counts = np.array(p.counts)
        export_s = np.repeat(np.array(p.export_s), counts)
        uptime = np.repeat(np.array(p.uptime_ms, np.int64), counts)
        init_ms = np.repeat(np.array(p.init_ms), counts)
        if np.isnan(init_ms).any() and (key[1], key[2]) in self.init_ms:  # learned after these records came
            init_ms = np.where(np.isnan(init_ms), self.init_ms[(key[1], key[2])], init_ms)

        def uint(ie: tuple[int, int]) -> np.ndarray | None:
            where = t.offsets.get(ie)
            if where is None or where[1] > 8:
                return None
            off, ln = where
            return _uint(recs[:, off : off + ln])

        def first(ies: tuple[tuple[int, int], ...]) -> np.ndarray | None:
            for ie in ies:
                v = uint(ie)
                if v is not None:
                    return v
            return None

        start, end, names = self._times(p.version, uint, export_s, uptime, init_ms)
        ts, no_start = epoch_ts(start)  # an impossible time (2^64-1 ms): the record skipped, said once
        if no_start.any():
            self._no_time(start, no_start, names[0], nulled=False)
        if end is not None:
            _, no_end = epoch_ts(end)
            no_end = no_end & ~no_start
            if no_end.any():  # an impossible end: the duration nulled, the record kept
                self._no_time(end, no_end, names[1], nulled=True)
            duration = pa.array(np.round(end - start, 6), mask=no_end | no_start)
        proto = uint((0, 4))
        cols: dict[str, pa.Array] = {
            "ts": ts,
            "duration_s": duration if end is not None else pa.nulls(n, pa.float64()),
            "src_ip": self._addresses(t, recs, SRC_V4, SRC_V6),
            "dst_ip": self._addresses(t, recs, DST_V4, DST_V6),
            "proto": pa.array(proto.astype(np.uint8)) if proto is not None else pa.nulls(n, pa.uint8()),
        }
        no_ports = ~np.isin(proto, list(PORT_PROTOS)) if proto is not None else None
        for name, ie in (("src_port", (0, 7)), ("dst_port", (0, 11))):
            v = uint(ie)
            cols[name] = (pa.array(v.astype(np.int32), mask=no_ports) if v is not None
                          else pa.nulls(n, pa.int32()))
        for name, ies in COUNTERS.items():
            v = first(ies)
            cols[name] = pa.array(v.astype(np.int64)) if v is not None else pa.nulls(n, pa.int64())
        flags = uint((0, 6))
        cols["tcp_flags"] = pa.array((flags & 0xFF).astype(np.uint8)) if flags is not None else pa.nulls(n, pa.uint8())
        cols["source"] = pa.array([SOURCE[p.version]] * n, pa.string())
        cols["input"] = pa.array([self.input_name] * n, pa.string())
        arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in FLOWS]
        batch = pa.RecordBatch.from_arrays(arrays, schema=FLOWS)
        return batch.filter(pa.array(~no_start)) if no_start.any() else batch

    def _no_time(self, seconds: np.ndarray, rows: np.ndarray, name: str, nulled: bool) -> None:
        """Records whose time element gives no time in years 1–9999, in one problem line: skipped,
        or kept with their duration ``nulled`` (an impossible end time)."""
        count, first = int(rows.sum()), float(seconds[np.flatnonzero(rows)[0]])
        zh = f"{name} 不是有效时间（{first:.6g} 秒，不在公元 1–9999 年内）"
        en = f"{name} gives no valid time ({first:.6g} s, not within years 1–9999)"
        if nulled:
            self.report.note(f"{count} 条记录的 {zh}；时长置空", f"{count} record(s) whose {en}: duration left empty")
        else:
            self.report.records(count, zh, en)

    def _times(self, version: int, uint: Callable[[tuple[int, int]], np.ndarray | None], export_s: np.ndarray,
               uptime: np.ndarray, init_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, tuple[str, str]]:
        """Flow start and end, epoch seconds, from whichever time elements the template has, and
        the names of those elements (for problem lines)."""
        used: dict[int, str] = {}

        def when(ms: int, s: int, us: int, ns: int, delta_us: int, sysup: int) -> np.ndarray | None:
            used[ms] = TIME_IES[ms]
            if (v := uint((0, ms))) is not None:
                return v / 1e3
            used[ms] = TIME_IES[s]
            if (v := uint((0, s))) is not None:
                return v.astype(np.float64)
            for ie in (us, ns):
                used[ms] = TIME_IES[ie]
                if (v := uint((0, ie))) is not None:
                    return _ntp(v)
            used[ms] = TIME_IES[delta_us]
            if (v := uint((0, delta_us))) is not None:
                return export_s - v / 1e6
            used[ms] = TIME_IES[sysup]
            if (v := uint((0, sysup))) is not None:
                # 32-bit milliseconds of exporter uptime: they wrap every 49.7 days, so the flow is
                # taken to lie within one wrap before the export time (up to an hour after it)
                if version in (5, 9):
                    ago = uptime - v.astype(np.int64)
                elif not np.isnan(init_ms).all():
                    known = ~np.isnan(init_ms)  # rows without it: the export time stands in
                    since_init = np.round(export_s * 1e3 - np.where(known, init_ms, 0) - v)
                    ago = np.where(known, since_init, 0).astype(np.int64)
                    if not known.all():
                        self._warn("no_init", *NO_INIT)
                else:
                    return None
                ago = (ago + SLACK_MS) % (1 << 32) - SLACK_MS
                return export_s - ago / 1e3
            return None

        start = when(152, 150, 154, 156, 158, 22)
        end = when(153, 151, 155, 157, 159, 21)
        if start is None:
            if end is not None:
                return end, end, (used[153], used[153])
            self._warn("no_init", *NO_INIT)
            return export_s, None, ("export time", "")
        return start, end, (used[152], used[153])

    def _addresses(self, t: Template, recs: np.ndarray, v4: tuple[int, int], v6: tuple[int, int]) -> pa.Array:
        n = len(recs)
        a4 = t.offsets.get(v4)
        a6 = t.offsets.get(v6)
        out4 = out6 = None
        if a4 is not None and a4[1] == 4:
            u = _uint(recs[:, a4[0] : a4[0] + 4])
            out4 = _ipv4_text(u)
            if a6 is None:
                return out4
        if a6 is not None and a6[1] == 16:
            raw = np.ascontiguousarray(recs[:, a6[0] : a6[0] + 16]).tobytes()
            out6 = pa.array([socket.inet_ntop(socket.AF_INET6, raw[i : i + 16]) for i in range(0, 16 * n, 16)],
                            pa.string())
            if out4 is None:
                return out6
            return pc.if_else(pc.equal(pa.array(u), 0), out6, out4)
        return out4 if out4 is not None else pa.nulls(n, pa.string())

    def _warn(self, kind: str, zh: str, en: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            self.report.note(zh, en)


def _uint(cols: np.ndarray) -> np.ndarray:
    """Big-endian unsigned integers of 1–8 bytes, one per row of ``cols`` (n × length bytes)."""
    n, ln = cols.shape
    if ln in (1, 2, 4, 8):
        return np.ascontiguousarray(cols).view(f">u{ln}").reshape(n).astype(np.uint64)
    wide = np.zeros((n, 8), np.uint8)
    wide[:, 8 - ln :] = cols
    return wide.view(">u8").reshape(n).astype(np.uint64)


def _ntp(v: np.ndarray) -> np.ndarray:
    """64-bit NTP timestamps (IPFIX dateTimeMicro/Nanoseconds) → epoch seconds."""
    return (v >> np.uint64(32)).astype(np.float64) - NTP_EPOCH + (v & np.uint64(0xFFFFFFFF)).astype(np.float64) / 2**32


def _ipv4_text(u: np.ndarray) -> pa.Array:
    parts = [pa.array((u >> np.uint64(s)) & np.uint64(255)).cast(pa.string()) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*parts, ".")


# --- inputs ------------------------------------------------------------------------------------


def _plausible(buf: bytes | memoryview, off: int, end: int) -> int:
    """Length of the export packet that starts at ``off`` if its header is plausible, else 0.

    A packet cut short by ``end`` (the end of the file) counts, for the decoder to keep its whole
    records. v9 headers carry no length: the packet runs over its flowsets up to the next v9
    header (flowset id 9 is reserved, so 0x0009 where a flowset id is due starts a packet) or to a
    flowset that cannot be one (too short, or running past ``end``)."""
    if end - off < 4:
        return 0
    version, count = struct.unpack_from("!HH", buf, off)
    if version == 5:
        return min(24 + 48 * count, end - off) if 1 <= count <= 1000 and end - off >= 24 else 0
    if version == 10:
        if count < 16 or end - off < 16:
            return 0
        if count > 16:  # the first set id must be a template (2), options template (3) or data set (≥256)
            if end - off < 20:
                return 0
            first_set = struct.unpack_from("!H", buf, off + 16)[0]
            if first_set not in (2, 3) and first_set < 256:
                return 0
        return min(count, end - off)
    if version == 9 and end - off >= 24:
        pos = off + 20
        while pos + 4 <= end and pos - off < MAX_PACKET:
            fs_id, fs_len = struct.unpack_from("!HH", buf, pos)
            if 2 <= fs_id < 256 or fs_len < 4 or pos + fs_len > end:
                break
            pos += fs_len
        return pos - off if pos > off + 20 else 0
    return 0


def read_export_stream(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """A file of export packets back to back (what a UDP collector dumps; RFC 5655 IPFIX files)."""
    report.format = report.format or "netflow"
    decoder = Decoder(report, report.input, batch_rows)
    chunk = 4 << 20
    f = open_input(path, report)
    if f is None:
        return
    with f:
        buf = b""
        base = 0  # file offset of buf[0]
        eof = False
        while not eof or buf:
            if not eof and len(buf) < 2 * MAX_PACKET + 8:
                try:
                    more = f.read(chunk)
                except (OSError, EOFError, zlib.error) as e:
                    report.fail(f"压缩数据在第 {base + len(buf)} 字节附近中断（{e}）；之前的报文已读取",
                                f"the compressed data breaks off near byte {base + len(buf)} ({e}); "
                                "packets before it were read")
                    more = b""
                    eof = True
                eof = eof or not more
                buf += more
                continue
            pos = 0
            limit = len(buf) if eof else len(buf) - 2 * MAX_PACKET
            while pos < limit:
                size = _plausible(buf, pos, len(buf))
                if size == 0:
                    skip = pos
                    pos += 1
                    while (m := _VERSION.search(buf, pos)) is not None and _plausible(buf, m.start(), len(buf)) == 0:
                        pos = m.start() + 1
                    pos = m.start() if m is not None else len(buf)
                    if not eof:
                        pos = min(pos, limit)  # a header may straddle the end of what is read so far
                    report.at(base + skip, f"{pos - skip} 字节不是导出报文（不是 NetFlow v5/v9 或 IPFIX）",
                              f"{pos - skip} bytes that are not export packets (not NetFlow v5/v9 or IPFIX)", "record")
                    continue
                decoder.feed(buf[pos : pos + size], "", base + pos)
                pos += size
                yield from decoder.batches()
            buf = buf[pos:]
            base += pos
            if eof and pos == 0 and buf:  # unreachable guard: never loop without progress
                break
    yield from decoder.batches(final=True)


def _udp_payload(pkt: bytes, linktype: int) -> tuple[str, int, int, bytes] | None:
    """(source address, source port, destination port, payload) of a UDP packet, or None."""
    off = 0
    if linktype == 1:  # Ethernet, VLAN tags
        etype = int.from_bytes(pkt[12:14], "big")
        off = 14
        while etype in (0x8100, 0x88A8) and len(pkt) >= off + 4:
            etype = int.from_bytes(pkt[off + 2 : off + 4], "big")
            off += 4
        if etype not in (0x0800, 0x86DD):
            return None
    elif linktype == 113:  # Linux cooked
        off = 16
    elif linktype == 276:  # Linux cooked v2
        off = 20
    elif linktype in (0, 108):  # BSD loopback
        off = 4
    elif linktype not in (101, 12, 14, 228, 229):  # raw IP
        return None
    if len(pkt) < off + 20:
        return None
    ver = pkt[off] >> 4
    if ver == 4:
        ihl = (pkt[off] & 15) * 4
        if pkt[off + 9] != 17 or int.from_bytes(pkt[off + 6 : off + 8], "big") & 0x3FFF:  # not UDP, or a fragment
            return None
        src = socket.inet_ntop(socket.AF_INET, pkt[off + 12 : off + 16])
        total = int.from_bytes(pkt[off + 2 : off + 4], "big")
        udp = off + ihl
        end = min(len(pkt), off + total) if total else len(pkt)
    elif ver == 6 and len(pkt) >= off + 48:
        if pkt[off + 6] != 17:
            return None
        src = socket.inet_ntop(socket.AF_INET6, pkt[off + 8 : off + 24])
        udp = off + 40
        end = min(len(pkt), udp + int.from_bytes(pkt[off + 4 : off + 6], "big"))
    else:
        return None
    if end < udp + 8:
        return None
    sport = int.from_bytes(pkt[udp : udp + 2], "big")
    dport = int.from_bytes(pkt[udp + 2 : udp + 4], "big")
    return src, sport, dport, pkt[udp + 8 : end]


def read_export_capture(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS,
                        ports: frozenset[int] = EXPORT_PORTS) -> Iterator[pa.RecordBatch]:
    """A pcap/pcapng capture of export traffic: UDP datagrams to one of ``ports``."""
    from minescope.dimensions.network.readers.pcap import CaptureFile

    report.format = report.format or "netflow-pcap"
    decoder = Decoder(report, report.input, batch_rows)
    capture = CaptureFile(path)
    for block in capture.blocks():
        raw = block.buf.data
        for i in range(block.n):
            lt = int(block.linktype[i]) if len(block.linktype) else block.default_lt
            off = int(block.data_off[i])
            got = _udp_payload(bytes(raw[off : off + int(block.caplen[i])]), lt)
            if got is None or got[2] not in ports:
                continue
            src, sport, _, payload = got
            decoder.feed(payload, f"{src}:{sport}", off)
        yield from decoder.batches()
    if capture.problem is not None:
        report.error = capture.problem
    yield from decoder.batches(final=True)


def is_export_capture(path: Path, ports: frozenset[int] = EXPORT_PORTS, look: int = 200) -> bool:
    """Whether the first ``look`` packets of a capture include NetFlow/IPFIX export datagrams."""
    from minescope.dimensions.network.readers.pcap import CaptureFile

    seen = 0
    # the first 256 KiB, interpreted: looking must not cost a 16 MiB read nor numba's start-up
    for block in CaptureFile(path, compiled=False, block_bytes=1 << 18).blocks():
        raw = block.buf.data
        for i in range(block.n):
            lt = int(block.linktype[i]) if len(block.linktype) else block.default_lt
            off = int(block.data_off[i])
            got = _udp_payload(bytes(raw[off : off + int(block.caplen[i])]), lt)
            if got is not None and got[2] in ports and _plausible(got[3], 0, len(got[3])):
                return True
            seen += 1
            if seen >= look:
                return False
        break  # one block is plenty
    return False


class Collector:
    """Receives export packets on a UDP socket and yields ``flows`` batches.

    Iterate over it; a batch comes when ``batch_rows`` rows are waiting or ``flush_s`` seconds have
    passed with rows waiting. It stops after ``max_packets`` packets or ``duration_s`` seconds if
    given, or when ``close()`` is called from another thread. Templates are kept per exporter
    (address and port) and observation domain / source id."""

    def __init__(self, host: str = "0.0.0.0", port: int = 2055, batch_rows: int = BATCH_ROWS, flush_s: float = 5.0,
                 max_packets: int | None = None, duration_s: float | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.report = InputReport(f"udp://{host}:{self.port}", format="netflow-udp")
        self.decoder = Decoder(self.report, self.report.input, batch_rows)
        self.flush_s = flush_s
        self.max_packets = max_packets
        self.duration_s = duration_s
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        started = last_flush = time.monotonic()
        self.sock.settimeout(0.2)
        try:
            while not self._closed:
                now = time.monotonic()
                if self.duration_s is not None and now - started >= self.duration_s:
                    break
                if self.max_packets is not None and self.decoder.packets >= self.max_packets:
                    break
                try:
                    data, addr = self.sock.recvfrom(MAX_PACKET)
                except TimeoutError:
                    data = b""
                    addr = None
                if addr is not None:
                    self.decoder.feed(data, f"{addr[0]}:{addr[1]}", 0)
                yield from self.decoder.batches()
                if self.decoder.rows and time.monotonic() - last_flush >= self.flush_s:
                    yield from self.decoder.batches(final=True)
                    last_flush = time.monotonic()
        finally:
            self.sock.close()
        yield from self.decoder.batches(final=True)
