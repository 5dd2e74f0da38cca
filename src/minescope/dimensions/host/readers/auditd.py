"""Linux audit logs (``/var/log/audit/audit.log`` as auditd writes it, RAW or ENRICHED ``log_format``):
program executions become ``processes`` rows.

The format (auditd(8), auditd.conf(5) ``log_format``; the audit-userspace documentation,
https://github.com/linux-audit/audit-documentation/wiki ; the kernel's ``audit_log_execve_info``):
one record a line, ``[node=NAME ]type=TYPE msg=audit(EPOCH.MS:SERIAL): key=value …``; the records of one
event share ``audit(…:SERIAL)`` and end with an ``EOE`` record. An execution is a ``SYSCALL`` record
(``syscall=59`` on x86_64, ``ppid= pid= auid= uid= comm= exe=``) with an ``EXECVE`` record of its arguments
(``argc=3 a0="xmrig" a1=…``), a ``CWD`` record and ``PATH`` records. Text values are in double quotes,
or hex when they hold a space, a quote or a control character (``a1=2D2D646F6E6174652D6C6576656C3D30``);
a long argument is split (``a2_len=9000 a2[0]=… a2[1]=…``). ENRICHED logs add, after a 0x1D byte, the
names of numbers (``UID="root"``). ``(null)`` is no value.

  processes  pid, ppid, user (the ENRICHED name of uid, else uid; auid when there is no uid), image
             (exe, else the first PATH name), name (its file name, else comm), command_line (the
             arguments joined with spaces, hex decoded; else the PROCTITLE), cwd, host (``node``)

Events that are not a successful execve/execveat are counted (``auditd:<first record type>``) and not
kept. A line that is no audit record is skipped and told.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from minescope.dimensions.host.readers.rows import Batches, HostRows, file_name
from minescope.dimensions.network.tables import BATCH_ROWS
from minescope.readers.report import InputReport
from minescope.readers.textio import lines

RECORD = re.compile(
    rb"^(?:node=(?P<node>\S+) )?type=(?P<type>\w+) msg=audit\((?P<ts>\d+(?:\.\d+)?):(?P<serial>\d+)\):?")
FIELD = re.compile(r"([^\s=]+)=(\"[^\"]*\"|'[^']*'|\S*)")
ARG = re.compile(r"^a(\d+)(?:\[(\d+)\])?$")
HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
# (arch, syscall number) of execve and execveat, for RAW logs (ENRICHED ones name the syscall)
EXECVE = {("c000003e", "59"), ("c000003e", "322"), ("40000003", "11"), ("40000003", "358"),
          ("c00000b7", "221"), ("c00000b7", "281"), ("40000028", "11"), ("40000028", "387")}
UNSET_ID = "4294967295"  # auid of a process no login started
MAX_LEADING = 20  # lines that are no record before the first one: the file is no audit log
MAX_PENDING = 4096  # events waiting for their EOE record; older ones are taken as complete


def decode(value: str | None, encoded: bool = True) -> str | None:
    """An audit value as text: quotes removed, ``(null)`` → None, hex decoded when ``encoded``."""
    if value is None or value == "" or value == "(null)":
        return None
    if value[0] in "\"'":
        return value[1:-1]
    if encoded and HEX.match(value):
        return bytes.fromhex(value).decode("utf-8", "replace")
    return value


def _hex_or_text(value: str) -> bytes:
    if value[:1] == '"':
        return value[1:-1].encode()
    return bytes.fromhex(value) if HEX.match(value) else value.encode()


class _Event:
    __slots__ = ("cwd", "enriched", "execve", "first", "node", "path0", "proctitle", "syscall", "ts")

    def __init__(self, ts: float, node: str | None, first: str) -> None:
        self.ts, self.node, self.first = ts, node, first
        self.syscall: dict[str, str] | None = None
        self.enriched: dict[str, str] = {}
        self.execve: dict[str, str] = {}
        self.cwd: str | None = None
        self.path0: str | None = None
        self.proctitle: str | None = None


def _fields(text: str) -> dict[str, str]:
    return {m[1]: m[2] for m in FIELD.finditer(text)}


def _arguments(fields: dict[str, str]) -> list[str]:
    """EXECVE arguments in order, hex decoded, split ones joined."""
    parts: dict[int, dict[int, bytes]] = {}
    for key, value in fields.items():
        m = ARG.match(key)
        if m is None:
            continue
        parts.setdefault(int(m[1]), {})[int(m[2]) if m[2] is not None else -1] = _hex_or_text(value)
    argc = fields.get("argc", "")
    count = int(argc) if argc.isdigit() else (max(parts) + 1 if parts else 0)
    out = []
    for i in range(min(count, max(parts) + 1 if parts else 0)):
        chunks = parts.get(i, {})
        out.append(b"".join(chunks[k] for k in sorted(chunks)).decode("utf-8", "replace"))
    return out


def _row(e: _Event) -> dict[str, Any] | None:
    s = e.syscall
    if s is None or s.get("success") == "no":
        return None
    if not e.execve and (s.get("arch"), s.get("syscall")) not in EXECVE and \
            e.enriched.get("SYSCALL") not in ("execve", "execveat"):
        return None
    args = _arguments(e.execve)
    command = " ".join(args) if args else (e.proctitle.replace("\x00", " ").strip() if e.proctitle else None)
    image = decode(s.get("exe")) or e.path0
    comm = decode(s.get("comm"))
    uid = s.get("uid")
    user = decode(e.enriched.get("UID"), False) or uid
    if not user:
        auid = s.get("auid")
        user = decode(e.enriched.get("AUID"), False) or (auid if auid and auid != UNSET_ID else None)
    pid, ppid = s.get("pid", ""), s.get("ppid", "")
    return {"ts": e.ts, "host": e.node.lower() if e.node else None, "event": "auditd:execve",
            "pid": int(pid) if pid.isdigit() else None, "ppid": int(ppid) if ppid.isdigit() else None,
            "user": user, "image": image, "name": file_name(image) or (comm.lower() if comm else None),
            "command_line": command or None, "cwd": e.cwd}


def read_auditd(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS,
                events: Counter[str] | None = None) -> Batches:
    """Rows of an auditd log as (table name, batch): ``processes`` for each program executed."""
    report.format = report.format or "auditd"
    rows = HostRows("auditd", report, batch_rows, events)
    pending: dict[tuple[str | None, str], _Event] = {}
    records = leading = 0

    def finish(key: tuple[str | None, str]) -> list[Any]:
        e = pending.pop(key)
        row = _row(e)
        rows.events["auditd:execve" if row else f"auditd:{e.first.lower()}"] += 1
        return rows.add("processes", row) if row else []

    for n, raw in lines(path, report):
        if raw.startswith(b"----"):  # ausearch's separator between events
            continue
        main, _, extra = raw.partition(b"\x1d")
        m = RECORD.match(main)
        if m is None:
            if records:
                report.line(n, "不是 auditd 记录（应为 type=… msg=audit(时间:序号): …）",
                            "not an auditd record (type=… msg=audit(time:serial): … expected)")
                continue
            leading += 1  # before any record: the file may be no audit log at all
            if leading >= MAX_LEADING:
                break
            continue
        if not records and leading:
            report.records(leading, "文件开头的几行不是 auditd 记录", "lines at the start are no auditd records")
        records += 1
        node = m["node"].decode("utf-8", "replace") if m["node"] else None
        rtype = m["type"].decode()
        key = (node, m["serial"].decode())
        e = pending.get(key)
        if e is None:
            if len(pending) >= MAX_PENDING:
                yield from finish(next(iter(pending)))
            e = pending[key] = _Event(float(m["ts"]), node, rtype)
        if rtype == "EOE":
            yield from finish(key)
            continue
        body = main[m.end():].decode("utf-8", "replace")
        try:
            if rtype == "SYSCALL":
                e.syscall = _fields(body)
                if extra:
                    e.enriched = _fields(extra.decode("utf-8", "replace"))
            elif rtype == "EXECVE":
                e.execve.update(_fields(body))
            elif rtype == "CWD":
                e.cwd = decode(_fields(body).get("cwd"))
            elif rtype == "PATH":
                f = _fields(body)
                if f.get("item") == "0":
                    e.path0 = decode(f.get("name"))
            elif rtype == "PROCTITLE":
                e.proctitle = decode(_fields(body).get("proctitle"))
        except (ValueError, UnicodeError):
            report.line(n, f"{rtype} 记录的值无法解析", f"a value of the {rtype} record cannot be parsed")
    for key in list(pending):
        yield from finish(key)
    yield from rows.flush()
    if not records and report.error is None:
        report.fail("不是 auditd 日志：没有一行是审计记录（type=… msg=audit(时间:序号): …）；请给出 auditd 写的 "
                    "audit.log 原文（不是 ausearch -i 的解释输出）",
                    "not an auditd log: no line is an audit record (type=… msg=audit(time:serial): …); give the "
                    "audit.log that auditd writes (not ausearch -i's interpreted output)")
