"""Which endpoint-log format a file is, by its content (first bytes, first lines), never by its name:

  ``evtx``         Windows event log: starts with ``ElfFile\\x00``
  ``sysmon-json``  Windows events as JSON (Winlogbeat, flattened lines, rendered EVTX), also zipped (OTRF)
  ``auditd``       Linux audit log: ``[node=… ]type=… msg=audit(…)`` lines
  ``osquery``      osquery result log: JSON lines with ``name`` and ``columns``/``snapshot``/``diffResults``
  ``host-check``   a ``minescope host check`` report (``"format": "minescope-host-check"`` first)

None for anything else (captures, flow logs, CSV, empty or unreadable files), so that a caller can ask
this beside the network readers' ``detect_format``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import orjson

from minescope.dimensions.host.readers.auditd import RECORD
from minescope.dimensions.host.readers.evtx import MAGIC as EVTX_MAGIC
from minescope.dimensions.host.readers.host_check import is_host_check
from minescope.dimensions.host.readers.winjson import ZIP_MAGIC, is_windows_event
from minescope.readers.textio import head

HEAD_BYTES = 65536  # a rendered EVTX record, pretty-printed, fits


def detect_host_format(path: Path | str) -> str | None:
    """``evtx``, ``sysmon-json``, ``auditd``, ``osquery``, ``host-check``, or None when the file is none of these."""
    data = head(Path(path), HEAD_BYTES)
    if data[:8] == EVTX_MAGIC:
        return "evtx"
    if data[:4] == ZIP_MAGIC:
        return _zip_format(Path(path))
    if is_host_check(data):
        return "host-check"
    return _text_format(data)


def _zip_format(path: Path) -> str | None:
    """A zip whose first file is Windows events as JSON (OTRF ships them so)."""
    try:
        with zipfile.ZipFile(path) as z:
            first = next((m for m in z.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")),
                         None)
            if first is None:
                return None
            with z.open(first) as f:
                data = f.read(HEAD_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError):
        return None
    fmt = _text_format(data)
    return fmt if fmt == "sysmon-json" else None


def _text_format(data: bytes) -> str | None:
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    found = [line.strip() for line in text.splitlines()[:20] if line.strip()]
    if not found:
        return None
    if any(RECORD.match(line.encode()) for line in found[:10]):
        return "auditd"
    if found[0][:1] not in ("{", "["):
        return None
    for obj in _objects(text, found):
        if is_windows_event(obj):
            return "sysmon-json"
        if "name" in obj and any(k in obj for k in ("columns", "snapshot", "diffResults")):
            return "osquery"
    return None


def _objects(text: str, found: list[str]) -> list[dict[str, Any]]:
    """The JSON objects the head shows: whole lines that parse, else the first (pretty-printed) value."""
    out = []
    for line in found:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    if out:
        return out
    try:
        value, _ = json.JSONDecoder().raw_decode(text.lstrip())
    except json.JSONDecodeError:
        return []
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, dict)]
