"""The JSON document of a scan (schema ``minescope.scan``; see docs/json-schema.md).

The shape is checked by ``scan.schema.json`` beside this file. Times are unix seconds (float);
the main ones also have an ``*_iso`` twin in UTC.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from importlib import resources
from typing import Any

import orjson

from minescope import __version__, registry
from minescope.model import SCHEMA_VERSION, Dimension, Finding, ScanResult, SubjectType

from .fmt import iso_utc
from .summary import Summary

SCHEMA_NAME = "minescope.scan"


def to_json_document(
    result: ScanResult, summary: Summary, generated_at: float | None = None
) -> dict[str, Any]:
    """The document as plain data (dicts, lists and tuples, str, numbers, bool, None)."""
    return _document(result, summary, generated_at)


def _finding(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    d["first_seen_iso"] = iso_utc(d["first_seen"])
    d["last_seen_iso"] = iso_utc(d["last_seen"])
    return d


def _document(result: ScanResult, summary: Summary, generated_at: float | None) -> dict[str, Any]:
    now = time.time() if generated_at is None else generated_at
    inputs = []
    for i in result.inputs:
        d = asdict(i)
        d["first_seen_iso"] = iso_utc(i.first_seen)
        d["last_seen_iso"] = iso_utc(i.last_seen)
        inputs.append(d)
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso_utc(now),
        "tool": {"name": "minescope", "version": __version__},
        "scan": {
            "started_at": result.started_at,
            "started_at_iso": iso_utc(result.started_at),
            "wall_seconds": result.wall_seconds,
            "packets": result.packets,
            "bytes": result.bytes,
            "flows": result.flows,
            "capture_start": summary.capture_start,
            "capture_start_iso": iso_utc(summary.capture_start),
            "capture_end": summary.capture_end,
            "capture_end_iso": iso_utc(summary.capture_end),
        },
        "inputs": inputs,
        "problems": [{"zh": p.zh, "en": p.en} for p in result.problems],
        "summary": summary.to_dict(),
        "findings": [_finding(f) for f in result.findings],
    }


def _default(obj: Any) -> Any:
    """Evidence details are free-form: bytes become hex, sets sorted lists, the rest their str."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj).hex()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    return str(obj)


def dumps(result: ScanResult, summary: Summary, generated_at: float | None = None) -> bytes:
    """UTF-8 JSON, indented by 2; non-finite floats become null (orjson's rule)."""
    return orjson.dumps(
        _document(result, summary, generated_at),
        default=_default,
        option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
    )


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) the document follows."""
    text = resources.files("minescope.outputs").joinpath("scan.schema.json").read_bytes()
    schema: dict[str, Any] = orjson.loads(text)
    # the lists come from the code: the kinds registered here (plugins included), subject types, dimensions
    finding = schema["$defs"]["finding"]["properties"]
    schema["$defs"]["kind"]["enum"] = list(registry.kinds())
    finding["subject"]["properties"]["type"]["enum"] = [str(s) for s in SubjectType]
    finding["dimension"]["enum"] = [str(d) for d in Dimension]
    return schema
