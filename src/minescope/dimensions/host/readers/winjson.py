"""Windows events as JSON: Sysmon and Security events that a forwarder or a tool wrote as text.

Three shapes, told apart per record:
  Winlogbeat (ECS)    ``{"@timestamp": …, "winlog": {"event_id": 1, "channel": …, "computer_name": …,
                      "event_data": {…}}}`` (https://www.elastic.co/guide/en/beats/winlogbeat/current/
                      exported-fields-winlog.html); Winlogbeat 6's top-level ``event_data``/``log_name`` too
  flattened lines     one object per line with the event's fields at the top level (``EventID``, ``Channel``,
                      ``Hostname``, ``CommandLine``, ``@timestamp``, …), as OTRF Security-Datasets ship them
                      (https://github.com/OTRF/Security-Datasets) from NXLog
  rendered EVTX       ``{"Event": {"System": …, "EventData": …}}``, the JSON the EVTX parser renders and SigmaHQ's
                      regression data holds (https://github.com/SigmaHQ/sigma/tree/master/regression_data):
                      pretty-printed objects, several concatenated, or a JSON array of them

The fields map through ``windows_fields`` (the same map as EVTX). Times: the rendered form's
``System.TimeCreated``; the others' ``@timestamp`` (Winlogbeat sets it to the event's creation; NXLog
pipelines, like OTRF's, to when the event was collected, seconds later), else Sysmon's ``UtcTime``.
JSON lines are read line by line (bounded memory); a file whose first line is not a whole object is
read as concatenated JSON documents (whole file in memory). A ``.zip`` of such files (OTRF) is read
member by member. A record that is no JSON object, or no event, is skipped and told with its line.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa

from minescope.dimensions.host.readers.rows import Batches, HostRows
from minescope.dimensions.host.readers.windows_fields import add_event, add_rendered, event_id
from minescope.dimensions.network.tables import BATCH_ROWS
from minescope.readers.report import InputReport
from minescope.readers.textio import BOM, MAX_LINE, lines, open_input
from minescope.readers.values import iso_epoch

ZIP_MAGIC = b"PK\x03\x04"
MAX_DOCUMENT = 1 << 30  # a concatenated-JSON file is read whole: larger ones are refused
# the process id in a rendered message: Sysmon's "ProcessId: 4892", Security 4688's "Creator Process ID:\t0x5a4"
MESSAGE_PID = re.compile(r"(?:^|\n)[ \t]*(?:ProcessId|Creator Process ID):[ \t]*(\w+)")


def add_record(rows: HostRows, obj: Any) -> list[tuple[str, pa.RecordBatch]]:
    """One JSON event in any of the three shapes. Raises ValueError (reason in English) when it is none."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if "Event" in obj:
        return add_rendered(rows, obj)
    beat = obj.get("winlog")
    if not isinstance(beat, dict) and "event_data" in obj:
        beat = obj  # Winlogbeat 6: the winlog fields at the top level
    if isinstance(beat, dict):
        eid = event_id(beat.get("event_id"))
        if eid is None:
            raise ValueError("no winlog.event_id")
        fields = beat.get("event_data") or {}
        return add_event(rows, _time(obj.get("@timestamp")), beat.get("computer_name"),
                         beat.get("channel") or beat.get("log_name"), eid, fields if isinstance(fields, dict) else {})
    eid = event_id(obj.get("EventID", obj.get("EventId")))
    if eid is None:
        raise ValueError("no EventID")
    when = obj.get("@timestamp") or obj.get("TimeCreated")
    ts = _time(when) if when else _time(obj.get("UtcTime"))
    data: dict[str, Any] = obj
    if "ProcessId" not in obj and isinstance(obj.get("Message"), str):
        # NXLog keeps one of ProcessId (the event's) and ProcessID (the logging service's): names are
        # not case-sensitive to it. The event's own stays in the rendered message.
        m = MESSAGE_PID.search(obj["Message"])
        if m:
            data = {**obj, "ProcessId": m[1]}
    return add_event(rows, ts, obj.get("Hostname") or obj.get("Computer") or obj.get("computer_name"),
                     obj.get("Channel"), eid, data)


def _time(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / (1000 if value > 1e11 else 1)  # epoch milliseconds or seconds
    return iso_epoch(str(value))


def read_winjson(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS,
                 events: Counter[str] | None = None) -> Batches:
    """Rows of a Sysmon/Winlogbeat/flattened JSON file (or a zip of them) as (table name, batch)."""
    report.format = report.format or "sysmon-json"
    rows = HostRows("sysmon_json", report, batch_rows, events)
    f = open_input(path, report)
    if f is None:
        return
    with f:
        zipped = f.read(4) == ZIP_MAGIC
    if zipped:
        yield from _zip(path, report, rows)
    else:
        yield from _records(path, report, rows, None)
    yield from rows.flush()


def _zip(path: Path, report: InputReport, rows: HostRows) -> Batches:
    try:
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
            if not members:
                report.fail("压缩包里没有文件", "the zip archive holds no file")
            for m in members:
                with z.open(m) as member:
                    yield from _records(path, report, rows, member, m.filename)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        report.fail(f"zip 压缩包损坏（{e}）；之前的记录已读取",
                    f"damaged zip archive ({e}); records before it were read")


def _records(path: Path, report: InputReport, rows: HostRows, stream: IO[bytes] | None,
             member: str = "") -> Batches:
    where = f"{member}: " if member else ""
    numbered = _member_lines(stream) if stream is not None else lines(path, report)
    first = True
    for n, raw in numbered:
        if first:
            first = False
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict) and raw.lstrip()[:1] in (b"{", b"["):  # pretty-printed / concatenated
                yield from _documents(path, report, rows, stream, where)
                return
        else:
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = None
        if obj is None:
            report.line(n, f"{where}不是完整的 JSON 对象", f"{where}not a complete JSON object")
            continue
        try:
            yield from add_record(rows, obj)
        except Exception as e:
            report.line(n, f"{where}不是 Windows 事件（{e}）", f"{where}not a Windows event ({e})")


def _member_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for n, line in enumerate(stream, 1):
        line = line.rstrip(b"\r\n")
        if n == 1 and line.startswith(BOM):
            line = line[len(BOM):]
        if line.strip() and len(line) < MAX_LINE:
            yield n, line


def _documents(path: Path, report: InputReport, rows: HostRows, stream: IO[bytes] | None,
               where: str) -> Batches:
    """Concatenated (pretty-printed) JSON values, or one array of them: ``raw_decode`` in a loop; after a
    value that does not parse, reading goes on at the next line that starts an object."""
    if stream is None:
        f = open_input(path, report)
        if f is None:
            return
        with f:
            data = f.read(MAX_DOCUMENT + 1)
    else:
        stream.seek(0)
        data = stream.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        report.fail(f"{where}JSON 文档超过 {MAX_DOCUMENT >> 20} MiB 且不是每行一个对象；请转为 JSON Lines",
                    f"{where}a JSON document over {MAX_DOCUMENT >> 20} MiB that is not one object a line: "
                    "convert it to JSON lines")
        return
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            return
        line = text.count("\n", 0, pos) + 1
        try:  # raw_decode finds where the value ends; orjson refuses what Arrow could not hold (lone surrogates)
            end = decoder.raw_decode(text, pos)[1]
            value = orjson.loads(text[pos:end])
        except (json.JSONDecodeError, orjson.JSONDecodeError) as e:
            why = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
            report.line(line, f"{where}JSON 无法解析（{why}）", f"{where}JSON that cannot be parsed ({why})")
            nxt = text.find("\n{", pos + 1)
            if nxt < 0:
                return
            pos = nxt + 1
            continue
        pos = end
        for obj in value if isinstance(value, list) else [value]:
            try:
                yield from add_record(rows, obj)
            except Exception as e:
                report.line(line, f"{where}不是 Windows 事件（{e}）", f"{where}not a Windows event ({e})")


def is_windows_event(obj: Mapping[str, Any]) -> bool:
    """Whether a JSON object is a Windows event in one of the shapes read here (format detection)."""
    event = obj.get("Event")
    if isinstance(event, dict) and isinstance(event.get("System"), dict):
        return True
    beat = obj.get("winlog")
    if isinstance(beat, dict) and "event_id" in beat:
        return True
    if "event_data" in obj and "event_id" in obj:
        return True
    return ("EventID" in obj or "EventId" in obj) and any(
        k in obj for k in ("Channel", "Hostname", "SourceName", "ProviderGuid", "Computer"))
