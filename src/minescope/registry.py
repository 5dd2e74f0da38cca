"""What plugs into minescope: finding kinds, evidence tables, readers, detectors, engines and outputs.

Each dimension (``dimensions/*``), the SQL engines and the outputs declare what they bring as one
``Plugin``, published under the entry-point group ``minescope.plugins`` (see ``pyproject.toml``).
Built-ins register exactly as an outside package would: a package that declares

    [project.entry-points."minescope.plugins"]
    mydimension = "mypackage:PLUGIN"

adds its kinds, readers and detectors to every list below. Every other list of kinds, formats,
engines or outputs — CLI choices, the JSON schema's enum, labels, chart colours, case policy, summary
sums — is derived from here, so a new finding kind is one ``KindSpec`` beside its detector.

Declarations are data: loading the registry imports no reader or detector code (no numba, no
Spark), only the modules that hold the declarations. ``Detector.entry`` and ``Reader.entry`` name
the code as ``module:attribute`` and are imported only when used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from minescope.model import Severity, Text

ENTRY_POINT_GROUP = "minescope.plugins"
# Where reports list a kind's findings, in report order (see ``KindSpec``).
SECTIONS = ("sessions", "contacts", "nodes", "leads", "trading", "findings")


class KindSpec(str):
    """A finding kind: the string itself is its name (``"mining_session"``), so a finding's ``kind``
    compares equal to its spec; the attributes say what every output and the case policy need.

    section: where reports list it — ``sessions`` (protocol sessions), ``contacts`` (an endpoint
    contacted), ``nodes`` (node traffic, not mining), ``leads`` (low-confidence leads to verify, listed
    apart and not counted as mining), ``trading`` (exchanges reached: trading, not mining), or ``findings``
    (subject and reasons; any dimension).
    """

    dimension: str
    label: Text
    colour: str
    mining: bool
    opens_case: bool
    severity: Severity
    section: str
    doc: str

    def __new__(cls, name: str, *, dimension: str, label: Text, colour: str, mining: bool, opens_case: bool,
                severity: Severity, section: str = "findings", doc: str = "") -> KindSpec:
        if section not in SECTIONS:
            raise ValueError(f"kind {name}: section {section!r} is not one of {SECTIONS}")
        spec = super().__new__(cls, name)
        spec.dimension, spec.label, spec.colour = str(dimension), label, colour
        spec.mining, spec.opens_case, spec.severity = mining, opens_case, severity
        spec.section, spec.doc = section, doc
        return spec

    @property
    def name(self) -> str:
        return str(self)


@dataclass(frozen=True)
class TableSpec:
    """An evidence table: its name, its dimension, and where its columns are documented
    (``schema`` names a ``module:attribute`` holding the Arrow schema)."""

    name: str
    dimension: str
    schema: str
    doc: str
    # the columns a row needs ("a|b": either): a mapped export must give these
    required: tuple[str, ...] = ()

    def arrow_schema(self) -> Any:
        module, _, attribute = self.schema.partition(":")
        return getattr(import_module(module), attribute)


@dataclass(frozen=True)
class Reader:
    """One input format and the tables it fills; ``entry`` is the code that reads it."""

    format: str
    dimension: str
    tables: tuple[str, ...]
    doc: str
    entry: str = ""
    in_directories: bool = False  # picked up when a directory is scanned (by content); else name it


@dataclass(frozen=True)
class Detector:
    """One signal: the kinds it raises, the tables it reads, and the code that runs it."""

    name: str
    dimension: str
    kinds: tuple[KindSpec, ...]
    tables: tuple[str, ...]
    doc: str
    entry: str
    sql: bool = False  # runs as SQL on any engine (DuckDB, Spark); else Python on SQL-narrowed candidates

    def load(self) -> Any:
        module, _, attribute = self.entry.partition(":")
        return getattr(import_module(module), attribute)


@dataclass(frozen=True)
class EngineSpec:
    """Where SQL detectors run (DuckDB embedded, Spark distributed)."""

    name: str
    doc: str
    entry: str


@dataclass(frozen=True)
class Output:
    """A rendering: ``scan`` outputs render one scan (``minescope scan --format``); ``export`` outputs
    render what the store confirmed (``minescope export``); ``case`` outputs render one case or a
    jurisdiction's cases (``minescope cases notice``, ``cases ledger``)."""

    name: str
    kind: str  # "scan" | "export" | "case"
    doc: str


@dataclass(frozen=True)
class Plugin:
    name: str
    kinds: tuple[KindSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    readers: tuple[Reader, ...] = ()
    detectors: tuple[Detector, ...] = ()
    engines: tuple[EngineSpec, ...] = ()
    outputs: tuple[Output, ...] = ()
    doc: str = ""
    dimension: str | None = None


@cache
def plugins() -> tuple[Plugin, ...]:
    """Every plugin published under ``minescope.plugins``, built-ins first, then by name."""
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        plugin = ep.load()
        if not isinstance(plugin, Plugin):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not a minescope.registry.Plugin")
        found.append((not ep.value.startswith("minescope."), ep.name, plugin))
    if not found:
        raise RuntimeError("no minescope plugins registered: install the package (pip install -e .) "
                           "so its entry points exist")
    return tuple(p for _, _, p in sorted(found, key=lambda x: (x[0], x[1])))


def _unique(kind: str, names: Sequence[str]) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise ValueError(f"two plugins declare the {kind} {n!r}")
        seen.add(n)


@cache
def kinds() -> dict[str, KindSpec]:
    """Every finding kind by name, in declaration order."""
    found = [k for p in plugins() for k in p.kinds]
    _unique("kind", found)
    return {k.name: k for k in found}


def kind(name: str) -> KindSpec | None:
    return kinds().get(name)


def mining_kinds() -> tuple[str, ...]:
    """Kinds that state mining activity (counted in the mining totals)."""
    return tuple(k for k in kinds().values() if k.mining)


def default_case_kinds() -> tuple[str, ...]:
    """Kinds whose findings open cases unless the policy setting says otherwise."""
    return tuple(k for k in kinds().values() if k.opens_case)


def kinds_in_section(section: str) -> tuple[str, ...]:
    return tuple(k for k in kinds().values() if k.section == section)


def tables() -> dict[str, TableSpec]:
    found = [t for p in plugins() for t in p.tables]
    _unique("table", [t.name for t in found])
    return {t.name: t for t in found}


def readers() -> dict[str, Reader]:
    found = [r for p in plugins() for r in p.readers]
    _unique("reader format", [r.format for r in found])
    return {r.format: r for r in found}


def detectors() -> tuple[Detector, ...]:
    return tuple(d for p in plugins() for d in p.detectors)


def engines() -> dict[str, EngineSpec]:
    return {e.name: e for p in plugins() for e in p.engines}


def outputs(kind: str) -> tuple[str, ...]:
    """Names of the outputs of one kind ("scan" or "export"), in declaration order."""
    return tuple(o.name for p in plugins() for o in p.outputs if o.kind == kind)



def markdown() -> str:
    """The registry as the tables of ``docs/plugins.md`` (``python -m minescope.registry`` prints them;
    a test keeps the page in step)."""

    def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                *("| " + " | ".join(r) + " |" for r in rows), ""]

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    lines = ["### Finding kinds", ""]
    lines += table(("kind", "dimension", "zh", "en", "mining", "opens a case", "severity", "section", "meaning"),
                   [(f"`{k}`", k.dimension, k.label.zh, k.label.en, yes(k.mining), yes(k.opens_case), str(k.severity),
                     k.section, k.doc) for k in kinds().values()])
    lines += ["### Evidence tables", ""]
    lines += table(("table", "dimension", "schema", "needs", "rows"),
                   [(f"`{t.name}`", t.dimension, f"`{t.schema}`", ", ".join(n.replace("|", " / ") for n in t.required),
                     t.doc)
                    for t in tables().values()])
    lines += ["### Readers", ""]
    lines += table(("format", "dimension", "tables", "in directories", "what"),
                   [(f"`{r.format}`", r.dimension, ", ".join(r.tables), yes(r.in_directories), r.doc)
                    for r in readers().values()])
    lines += ["### Detectors", ""]
    lines += table(("detector", "dimension", "kinds", "reads", "runs as", "signal"),
                   [(f"`{d.name}`", d.dimension, ", ".join(d.kinds), ", ".join(d.tables),
                     "SQL (DuckDB, Spark)" if d.sql else "Python", d.doc) for d in detectors()])
    lines += ["### Engines", ""]
    lines += table(("engine", "what"), [(f"`{e.name}`", e.doc) for e in engines().values()])
    lines += ["### Outputs", ""]
    lines += table(("output", "of", "what"),
                   [(f"`{o.name}`", o.kind, o.doc) for p in plugins() for o in p.outputs])
    return "\n".join(lines)


if __name__ == "__main__":  # run as a script this file is __main__, not the registry the plugins import
    from minescope import registry

    print(registry.markdown(), end="")
