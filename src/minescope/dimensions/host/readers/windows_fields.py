"""Sysmon and Security-log events → host table rows: the one field map shared by the EVTX reader and
every JSON form of the same events (Winlogbeat, OTRF flattened lines, rendered EVTX records).

Field names are Windows' own, as Sysmon and the Security log write them; documentation:
Sysmon events, https://learn.microsoft.com/sysinternals/downloads/sysmon#events ; event 4688,
https://learn.microsoft.com/windows/security/threat-protection/auditing/event-4688 .

  sysmon:1      process create        → ``processes`` (Hashes ``SHA256=…,MD5=…`` split, lower-case; command
                                        lines without trailing spaces, as every JSON rendering gives them)
  sysmon:3      network connection    → ``connections`` (Source = the machine's own end; when the machine
                                        did not initiate it, ``Initiated: false``, Destination is)
  sysmon:6, 7   driver / image loaded → ``files`` (path = ImageLoaded, hashes)
  sysmon:11     file create           → ``files`` (path = TargetFilename, pid and image of the writer)
  sysmon:13     registry value set    → ``persistence`` ``run_key`` when the value is under a Run/RunOnce key
                                        (command = Details); other values are not kept
  sysmon:22     DNS query             → ``connections`` (remote_name = QueryName, remote_ip = the first
                                        address in QueryResults, proto udp)
  security:4688 process creation      → ``processes`` (ids are hex text, ``0x1a2b``)

Other events are counted (``HostRows.events``) and not kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from minescope.dimensions.host.readers.rows import HostRows, file_name, integer, port, text
from minescope.readers.values import iso_epoch, norm_ip, norm_name

SYSMON_CHANNEL = "microsoft-windows-sysmon/operational"
SECURITY_CHANNEL = "security"
# registry values that start a program at logon or boot: a value right under one of these keys
RUN_KEY = re.compile(r"^(?P<key>.*\\(?:Run|RunOnce|RunOnceEx|RunServices|RunServicesOnce))\\(?P<value>[^\\]+)$",
                     re.IGNORECASE)
Row = tuple[str, dict[str, Any]]


def channel_key(channel: Any) -> str:
    """``sysmon`` / ``security`` / the channel lower-case: the first part of the ``event`` column."""
    c = str(channel or "").strip().lower()
    if c == SYSMON_CHANNEL or c.startswith("microsoft-windows-sysmon"):
        return "sysmon"
    return c or "unknown"


def hashes(value: Any) -> dict[str, str]:
    """Sysmon ``Hashes`` (``SHA1=…,MD5=…,SHA256=…,IMPHASH=…``) → {"sha256": …, "md5": …} lower-case."""
    out: dict[str, str] = {}
    for part in str(value or "").split(","):
        algo, sep, digest = part.partition("=")
        if sep and digest.strip():
            out[algo.strip().lower()] = digest.strip().lower()
    return out


def command(value: Any) -> str | None:
    """A command line without the spaces Windows may leave at its end (``"cmd.exe" ``): JSON renderings
    of the same event (SigmaHQ's) trim them, and a rule on how a command line ends must not depend on
    the form the event came in."""
    t = text(value)
    return t.rstrip() or None if t else None


def first_address(results: Any) -> str | None:
    """The first address among Sysmon 22 ``QueryResults`` (``type:  5 cname;::ffff:1.2.3.4;``)."""
    for part in str(results or "").split(";"):
        part = part.strip()
        if not part or part.startswith("type:") or " " in part:
            continue
        try:
            ip = norm_ip(part)
        except ValueError:
            continue
        if ip and (":" in ip or ip.replace(".", "").isdigit()):
            return ip
    return None


def _ip(value: Any) -> str | None:
    try:
        return norm_ip(text(value))
    except ValueError:
        return None


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _process(d: Mapping[str, Any]) -> Row:
    h = hashes(d.get("Hashes"))
    image = text(d.get("Image"))
    return "processes", {
        "pid": integer(d.get("ProcessId")), "ppid": integer(d.get("ParentProcessId")), "user": text(d.get("User")),
        "image": image, "name": file_name(image), "command_line": command(d.get("CommandLine")),
        "cwd": text(d.get("CurrentDirectory")), "parent_image": text(d.get("ParentImage")),
        "parent_command_line": command(d.get("ParentCommandLine")), "sha256": h.get("sha256"), "md5": h.get("md5"),
        "original_name": text(d.get("OriginalFileName")),
    }


def _process_4688(d: Mapping[str, Any]) -> Row:
    image = text(d.get("NewProcessName"))
    user, domain = text(d.get("SubjectUserName")), text(d.get("SubjectDomainName"))
    return "processes", {
        "pid": integer(d.get("NewProcessId")), "ppid": integer(d.get("ProcessId")),
        "user": f"{domain}\\{user}" if domain and user else user, "image": image, "name": file_name(image),
        "command_line": command(d.get("CommandLine")), "parent_image": text(d.get("ParentProcessName")),
    }


def _connection(d: Mapping[str, Any]) -> Row:
    image = text(d.get("Image"))
    local, remote = ("Source", "Destination") if _true(d.get("Initiated", True)) else ("Destination", "Source")
    return "connections", {
        "pid": integer(d.get("ProcessId")), "image": image, "name": file_name(image), "user": text(d.get("User")),
        "proto": (text(d.get("Protocol")) or "").lower() or None,
        "local_ip": _ip(d.get(local + "Ip")), "local_port": port(d.get(local + "Port")),
        "remote_ip": _ip(d.get(remote + "Ip")), "remote_port": port(d.get(remote + "Port")),
        "remote_name": norm_name(text(d.get(remote + "Hostname"))),
    }


def _dns(d: Mapping[str, Any]) -> Row:
    image = text(d.get("Image"))
    return "connections", {
        "pid": integer(d.get("ProcessId")), "image": image, "name": file_name(image), "user": text(d.get("User")),
        "proto": "udp", "remote_ip": first_address(d.get("QueryResults")),
        "remote_name": norm_name(text(d.get("QueryName"))),
    }


def _loaded(d: Mapping[str, Any]) -> Row:
    h = hashes(d.get("Hashes"))
    return "files", {"path": text(d.get("ImageLoaded")), "sha256": h.get("sha256"), "md5": h.get("md5"),
                     "pid": integer(d.get("ProcessId")), "image": text(d.get("Image"))}


def _created(d: Mapping[str, Any]) -> Row:
    return "files", {"path": text(d.get("TargetFilename")), "pid": integer(d.get("ProcessId")),
                     "image": text(d.get("Image"))}


def _registry(d: Mapping[str, Any]) -> Row | None:
    m = RUN_KEY.match(text(d.get("TargetObject")) or "")
    if m is None:
        return None
    return "persistence", {"kind": "run_key", "name": m["value"], "location": m["key"],
                           "command": text(d.get("Details")), "user": text(d.get("User"))}


MAP: dict[str, Callable[[Mapping[str, Any]], Row | None]] = {
    "sysmon:1": _process, "sysmon:3": _connection, "sysmon:6": _loaded, "sysmon:7": _loaded,
    "sysmon:11": _created, "sysmon:13": _registry, "sysmon:22": _dns, "security:4688": _process_4688,
}


def event_id(value: Any) -> int | None:
    """EventID as an int (EVTX renders a qualified one as ``{"#attributes": …, "#text": 4688}``)."""
    if isinstance(value, dict):
        value = value.get("#text")
    n = integer(value)
    return n if n is not None and n >= 0 else None


def add_event(rows: HostRows, ts: float | None, host: Any, channel: Any, eid: int,
              data: Mapping[str, Any]) -> list[tuple[str, pa.RecordBatch]]:
    """Count the event, and add its row when it maps to one. Raises on data of the wrong shape (the
    caller skips and reports that record)."""
    event = f"{channel_key(channel)}:{eid}"
    rows.events[event] += 1
    mapper = MAP.get(event)
    if mapper is None:
        return []
    row = mapper(data)
    if row is None:
        return []
    table, values = row
    values.update(ts=ts, host=norm_name(text(host)), event=event)
    return rows.add(table, values)


def add_rendered(rows: HostRows, record: Mapping[str, Any]) -> list[tuple[str, pa.RecordBatch]]:
    """An EVTX record rendered as JSON (``{"Event": {"System": …, "EventData": …}}``, what the EVTX
    parser gives and SigmaHQ's regression data holds): count it, add its row. Raises ValueError (with
    the reason, English) on a record that is no event, and on data of the wrong shape."""
    event = record.get("Event")
    if not isinstance(event, dict):
        raise ValueError("no Event")
    system = event.get("System")
    if not isinstance(system, dict):
        raise ValueError("no Event.System")
    eid = event_id(system.get("EventID"))
    if eid is None:
        raise ValueError("no EventID")
    data = event.get("EventData") or {}
    if not isinstance(data, dict):
        data = {}
    created = system.get("TimeCreated")
    when = created.get("#attributes", created).get("SystemTime") if isinstance(created, dict) else created
    return add_event(rows, iso_epoch(str(when)) if when else None, system.get("Computer"),
                     system.get("Channel"), eid, data)
