"""osquery result logs (the filesystem logger's ``osqueryd.results.log``, JSON lines;
https://osquery.readthedocs.io/en/stable/deployment/logging/): differential lines (``{"name": …,
"hostIdentifier": …, "unixTime": …, "columns": {…}, "action": "added"}``, or batched ``"diffResults":
{"added": […], "removed": […]}``) and snapshot lines (``{"name": …, "snapshot": [{…}, …]}``).

A line's query is routed by its ``name`` containing an osquery table name (``pack_x_processes``), else by
the columns its rows have (table schemas: https://osquery.io/schema/):

  processes             → ``processes``   pid, parent → ppid, path → image, name, cmdline, uid → user, cwd
  process_open_sockets  → ``connections`` pid, protocol 6/17 → tcp/udp, local/remote address and port
                          (an unspecified remote end, ``0.0.0.0``/``::`` port 0, is null: a listening socket)
  crontab               → ``persistence`` ``cron``: command, the schedule as name, path as location
  systemd_units         → ``persistence`` ``systemd_unit`` (``systemd_timer`` for ``.timer``): id as name,
                          fragment_path as location; osquery has no ExecStart, so command is null unless
                          a query adds an ``exec_start``/``command`` column
  startup_items         → ``persistence`` ``service`` (type says service), ``run_key`` (a registry source),
                          else ``startup_item``: path and args as command, source as location

Rows ``removed`` are counted (``osquery:<table>:removed``) and not kept; so are results of other
queries (``osquery:<query name>``). A line that is no result is skipped and told.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from minescope.dimensions.host.readers.rows import Batches, HostRows, file_name, integer, port, text
from minescope.dimensions.network.tables import BATCH_ROWS
from minescope.readers.report import InputReport
from minescope.readers.textio import json_object, lines
from minescope.readers.values import norm_ip

Row = tuple[str, dict[str, Any]]
UNSPECIFIED = frozenset({"0.0.0.0", "::", ""})


def _process(c: Mapping[str, Any]) -> Row:
    image = text(c.get("path"))
    return "processes", {"pid": integer(c.get("pid")), "ppid": integer(c.get("parent")),
                         "user": text(c.get("username")) or text(c.get("uid")), "image": image,
                         "name": file_name(image) or (text(c.get("name")) or "").lower() or None,
                         "command_line": text(c.get("cmdline")), "cwd": text(c.get("cwd"))}


def _ip(value: Any) -> str | None:
    try:
        return norm_ip(text(value))
    except ValueError:
        return None


def _socket(c: Mapping[str, Any]) -> Row:
    remote, rport = text(c.get("remote_address")) or "", port(c.get("remote_port"))
    listening = remote in UNSPECIFIED and not rport
    image = text(c.get("path"))
    return "connections", {
        "pid": integer(c.get("pid")), "image": image, "name": file_name(image),
        "proto": {6: "tcp", 17: "udp"}.get(integer(c.get("protocol")) or -1),
        "local_ip": _ip(c.get("local_address")), "local_port": port(c.get("local_port")),
        "remote_ip": None if listening else _ip(remote), "remote_port": None if listening else rport,
    }


def _cron(c: Mapping[str, Any]) -> Row:
    when = " ".join(str(c.get(k, "*") or "*") for k in ("minute", "hour", "day_of_month", "month", "day_of_week"))
    location = text(c.get("path"))
    user = file_name(location) if location and "/crontabs/" in location else None
    return "persistence", {"kind": "cron", "name": when, "location": location, "command": text(c.get("command")),
                           "user": user}


def _unit(c: Mapping[str, Any]) -> Row:
    uid = text(c.get("id"))
    return "persistence", {
        "kind": "systemd_timer" if uid and uid.endswith(".timer") else "systemd_unit", "name": uid,
        "location": text(c.get("fragment_path")) or text(c.get("source_path")),
        "command": text(c.get("exec_start")) or text(c.get("command")), "user": text(c.get("user")),
    }


def _startup(c: Mapping[str, Any]) -> Row:
    kind_text, source = (text(c.get("type")) or "").lower(), text(c.get("source")) or ""
    if "service" in kind_text or "daemon" in kind_text:
        kind = "service"
    elif source.upper().startswith(("HKEY_", "HKLM", "HKCU", "HKU")):
        kind = "run_key"
    else:
        kind = "startup_item"
    command = " ".join(p for p in (text(c.get("path")), text(c.get("args"))) if p) or None
    return "persistence", {"kind": kind, "name": text(c.get("name")), "location": source or None,
                           "command": command, "user": text(c.get("username"))}


# osquery table → its map; the longer names first (``process_open_sockets`` holds ``processes``' start)
TABLES: dict[str, Callable[[Mapping[str, Any]], Row]] = {
    "process_open_sockets": _socket, "systemd_units": _unit, "startup_items": _startup, "crontab": _cron,
    "processes": _process,
}


def table_of(name: str, columns: Mapping[str, Any]) -> str | None:
    """Which osquery table a result is from: by the query name, else by its columns."""
    low = name.lower()
    for table in TABLES:
        if table in low:
            return table
    cols = set(columns)
    if {"remote_address", "remote_port"} <= cols:
        return "process_open_sockets"
    if "fragment_path" in cols or {"id", "active_state"} <= cols:
        return "systemd_units"
    if {"minute", "hour", "command"} <= cols:
        return "crontab"
    if {"type", "source", "path"} <= cols:
        return "startup_items"
    if {"pid", "cmdline"} <= cols or {"pid", "parent", "path"} <= cols:
        return "processes"
    return None


def _time(line: Mapping[str, Any]) -> float | None:
    t = integer(line.get("unixTime"))
    if t is not None:
        return float(t)
    cal = text(line.get("calendarTime"))
    if cal:
        try:  # "Tue Nov 14 22:13:20 2023 UTC"
            return datetime.strptime(cal.replace(" UTC", " +0000"), "%a %b %d %H:%M:%S %Y %z").timestamp()
        except ValueError:
            return None
    return None


def read_osquery(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS,
                 events: Counter[str] | None = None) -> Batches:
    """Rows of an osquery result log as (table name, batch)."""
    report.format = report.format or "osquery"
    rows = HostRows("osquery", report, batch_rows, events)
    for n, raw in lines(path, report):
        line = json_object(n, raw, report)
        if line is None:
            continue
        name = str(line.get("name") or "")
        added: Any
        removed: Any
        if "snapshot" in line:
            added, removed = line["snapshot"], []
        elif "diffResults" in line:
            diff = line["diffResults"] if isinstance(line["diffResults"], dict) else {}
            added, removed = diff.get("added") or [], diff.get("removed") or []
        elif "columns" in line:
            (added, removed) = ([line["columns"]], []) if line.get("action", "added") != "removed" \
                else ([], [line["columns"]])
        else:
            report.line(n, "不是 osquery 结果（没有 columns/snapshot/diffResults）",
                        "not an osquery result (no columns, snapshot or diffResults)")
            continue
        if not isinstance(added, list) or not isinstance(removed, list) or \
                not all(isinstance(c, dict) for c in added + removed):
            report.line(n, "osquery 结果的行不是 JSON 对象", "the osquery result's rows are no JSON objects")
            continue
        first = (added or removed or [{}])[0]
        table = table_of(name, first)
        if table is None:
            rows.events[f"osquery:{name or 'unnamed'}"] += len(added) + len(removed)
            continue
        if removed:
            rows.events[f"osquery:{table}:removed"] += len(removed)
        ts, host = _time(line), (text(line.get("hostIdentifier")) or "").lower() or None
        for columns in added:
            rows.events[f"osquery:{table}"] += 1
            target, values = TABLES[table](columns)
            values.update(ts=ts, host=host, event=f"osquery:{table}")
            yield from rows.add(target, values)
    yield from rows.flush()
