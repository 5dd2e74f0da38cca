"""Sigma rules over the host tables: rules are data, compiled once to SQL that DuckDB and Spark both run.

The rules are YAML files (https://sigmahq.io): SigmaHQ's coin-miner rules (``knowledge/data/host/sigma``,
DRL 1.1, upstream paths and ``MANIFEST.tsv``), minescope's own (``knowledge/data/host/rules``) and any folder
of ``$MINESCOPE_SIGMA_RULES``. pySigma parses them; a ``ProcessingPipeline`` per log source maps Sigma's
fields to the columns of ``tables.py``; ``SqlBackend`` (pySigma's ``TextQueryBackend``) writes one SQL
condition per rule. A rule that needs a field the tables do not have, or a log source they do not hold, is
not run: ``skipped()`` lists it with a one-line reason.

The SQL is one text for both engines. String values are compared case-insensitively, Sigma's default, on
lower-cased copies of the columns (``lc_<column>``, made once per row by the ``sigma_*`` views); literals are
written without backslashes, quotes or braces (those characters are ``chr(n)``, so no engine's escaping rules
matter); ``contains`` is a function of both. Only three function names differ, filled in per engine like the
engines' own dialect templates (``DIALECTS``): ``{startswith}``, ``{endswith}`` and ``{regexp}``. A rule's ``|re``
expression (none of the bundled rules has one) follows RE2 on DuckDB and Java's syntax on Spark: keep it to
the common subset.

One scan per table: a prefilter (one case-insensitive regular expression per column over the texts a match
must hold, ``SigmaRule.needs``) keeps the few rows any rule could match (``engine.materialize``); every rule is
then one ``CASE WHEN`` of a single query over them, so a million process starts are read once whatever the
number of rules. An OR of three or more plain values of one field is likewise one regular expression of
escaped literals: an automaton reads the value once where hundreds of ``contains`` would read it hundreds of
times.

Approximations, all documented in docs/host.md:
  auditd execve ``a0``..``a7``  match the whole ``command_line`` (``contains``, whatever the modifier)
  ``Initiated``                 dropped: the connections table does not say who opened the connection
  ``Hashes``                    ``sha256=…,md5=…`` made from the ``sha256`` and ``md5`` columns
  ``TargetObject``/``Details``  the persistence row's ``location``\\``name`` and its ``command``

Matches become findings (``findings``): one ``miner_process`` per (host, executable, command line), or one
``miner_persistence`` per (host, entry, command), with every rule that matched, the pool and wallet parsed
from the command line. A finding needs a rule of level high or critical; lower-level matches (``crontab -r``,
which competing miners run, and administrators too) are returned by ``sigma_matches`` but make no finding
alone.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any, ClassVar

import pyarrow as pa
import yaml

from minescope import settings
from minescope.dimensions.host.kinds import MINER_PERSISTENCE, MINER_PROCESS
from minescope.dimensions.host.tables import CONNECTIONS, PERSISTENCE, PROCESSES, host_of
from minescope.dimensions.network.protocols.mining import split_login
from minescope.engines.sql import Preparation, SqlEngine, View, open_engine
from minescope.errors import InputError
from minescope.knowledge import data_path
from minescope.model import Dimension, Evidence, Finding, MiningFacts, Severity, Subject, SubjectType, Text

# --- where each log source's rows are, and how Sigma's fields map to their columns ------------------


@dataclass(frozen=True)
class Target:
    """A Sigma log source on one of the host tables: its view, its field mapping and what a match shows."""

    name: str
    table: str
    view: str
    fields: Mapping[str, str]  # Sigma field → column of the view (lower-cased as lc_<column> for strings)
    drop: tuple[str, ...] = ()  # Sigma fields whose detection items are dropped (always true)
    any_arg: bool = False  # auditd: a0..a7 become "command_line contains"


PROCESS_FIELDS = {
    "Image": "image", "CommandLine": "command_line", "ParentImage": "parent_image",
    "ParentCommandLine": "parent_command_line", "User": "user", "OriginalFileName": "original_name",
    "CurrentDirectory": "cwd", "Hashes": "hashes", "sha256": "sha256", "SHA256": "sha256", "md5": "md5",
    "MD5": "md5", "ProcessId": "pid", "ParentProcessId": "ppid", "Computer": "host",
}
AUDITD_FIELDS = {**{f"a{i}": "command_line" for i in range(8)}, "exe": "image", "comm": "name",
                 "cwd": "cwd", "uid": "user", "pid": "pid", "ppid": "ppid"}
CONNECTION_FIELDS = {
    "Image": "image", "User": "user", "DestinationHostname": "remote_name", "DestinationIp": "remote_ip",
    "DestinationPort": "remote_port", "SourceIp": "local_ip", "SourcePort": "local_port", "Protocol": "proto",
    "ProcessId": "pid", "Computer": "host",
}
DNS_FIELDS = {"query": "remote_name", "QueryName": "remote_name", "answer": "remote_ip", "Image": "image",
              "User": "user", "ProcessId": "pid", "Computer": "host"}
REGISTRY_FIELDS = {"TargetObject": "target_object", "Details": "command", "User": "user", "Computer": "host"}
PERSISTENCE_FIELDS = {"Command": "command", "CommandLine": "command", "Kind": "kind", "Name": "name",
                      "Location": "location", "User": "user", "Computer": "host"}

TARGETS = {
    "process_creation": Target("process_creation", "processes", "sigma_processes", PROCESS_FIELDS),
    "auditd": Target("auditd", "processes", "sigma_processes", AUDITD_FIELDS, any_arg=True),
    "network_connection": Target("network_connection", "connections", "sigma_connections", CONNECTION_FIELDS,
                                 drop=("Initiated",)),
    "dns": Target("dns", "connections", "sigma_connections", DNS_FIELDS),
    "dns_query": Target("dns_query", "connections", "sigma_connections", DNS_FIELDS),
    "registry": Target("registry", "persistence", "sigma_persistence", REGISTRY_FIELDS),
    "persistence": Target("persistence", "persistence", "sigma_persistence", PERSISTENCE_FIELDS),
}
REGISTRY_CATEGORIES = ("registry_set", "registry_add", "registry_event", "registry_delete")
# Log sources the host tables hold in part, or not as Sigma means them: why their rules do not run.
UNMAPPED = {
    "driver_load": "driver loads (Sysmon 6) are rows of the files table without the loading process or the "
                   "import hash; not mapped to Sigma's driver_load",
    "image_load": "image loads (Sysmon 7) are rows of the files table without the loading process's fields; "
                  "not mapped to Sigma's image_load",
    "file_event": "file events are rows of the files table; not mapped to Sigma's file_event",
    "file_access": "file accesses are not read into the host tables",
}

# The views: the table's rows with lower-cased copies of the string columns (NULL as ''), numbers as they are.
PROCESS_VIEW_SQL = """
SELECT CAST({epoch_us} AS DOUBLE) / 1000000 AS t, host, pid, ppid, user, image, name, command_line, cwd,
       parent_image, parent_command_line, original_name, input,
       lower(coalesce(host, '')) AS lc_host, lower(coalesce(user, '')) AS lc_user,
       lower(coalesce(image, '')) AS lc_image, lower(coalesce(name, '')) AS lc_name,
       lower(coalesce(command_line, '')) AS lc_command_line, lower(coalesce(cwd, '')) AS lc_cwd,
       lower(coalesce(parent_image, '')) AS lc_parent_image,
       lower(coalesce(parent_command_line, '')) AS lc_parent_command_line,
       lower(coalesce(original_name, '')) AS lc_original_name, lower(coalesce(sha256, '')) AS lc_sha256,
       lower(coalesce(md5, '')) AS lc_md5,
       lower(concat_ws(',', 'sha256=' || sha256, 'md5=' || md5)) AS lc_hashes,
       pid AS lc_pid, ppid AS lc_ppid
FROM {relation}
"""
CONNECTION_VIEW_SQL = """
SELECT CAST({epoch_us} AS DOUBLE) / 1000000 AS t, host, pid, user, image, remote_ip, remote_port, remote_name, input,
       lower(coalesce(host, '')) AS lc_host, lower(coalesce(user, '')) AS lc_user,
       lower(coalesce(image, '')) AS lc_image, lower(coalesce(remote_ip, '')) AS lc_remote_ip,
       lower(coalesce(remote_name, '')) AS lc_remote_name, lower(coalesce(local_ip, '')) AS lc_local_ip,
       lower(coalesce(proto, '')) AS lc_proto, remote_port AS lc_remote_port, local_port AS lc_local_port,
       pid AS lc_pid
FROM {relation}
"""
PERSISTENCE_VIEW_SQL = """
SELECT CAST({epoch_us} AS DOUBLE) / 1000000 AS t, host, user, kind, name, location, command, input,
       lower(coalesce(host, '')) AS lc_host, lower(coalesce(user, '')) AS lc_user,
       lower(coalesce(kind, '')) AS lc_kind, lower(coalesce(name, '')) AS lc_name,
       lower(coalesce(location, '')) AS lc_location, lower(coalesce(command, '')) AS lc_command,
       lower(concat_ws(chr(92), location, name)) AS lc_target_object
FROM {relation}
"""

PREPARED = Preparation(
    tables={"processes": PROCESSES, "connections": CONNECTIONS, "persistence": PERSISTENCE},
    views=(View("sigma_processes", "processes", PROCESS_VIEW_SQL),
           View("sigma_connections", "connections", CONNECTION_VIEW_SQL),
           View("sigma_persistence", "persistence", PERSISTENCE_VIEW_SQL)),
)

# What a match shows, per table (the same names for every table, NULL where a table has none).
OUTPUT = {
    "processes": "t, host, pid, user, image, command_line, parent_image, CAST(NULL AS STRING) AS remote_ip, "
                 "CAST(NULL AS INT) AS remote_port, CAST(NULL AS STRING) AS remote_name, input",
    "connections": "t, host, pid, user, image, CAST(NULL AS STRING) AS command_line, "
                   "CAST(NULL AS STRING) AS parent_image, remote_ip, remote_port, remote_name, input",
    "persistence": "t, host, CAST(NULL AS BIGINT) AS pid, user, concat_ws(' ', kind, location, name) AS image, "
                   "command AS command_line, CAST(NULL AS STRING) AS parent_image, CAST(NULL AS STRING) AS remote_ip, "
                   "CAST(NULL AS INT) AS remote_port, CAST(NULL AS STRING) AS remote_name, input",
}

# The function names that differ between the engines (the rest of the SQL is shared).
DIALECTS = {
    "duckdb": {"startswith": "starts_with", "endswith": "ends_with", "regexp": "regexp_matches"},
    "spark": {"startswith": "startswith", "endswith": "endswith", "regexp": "regexp_like"},
}

LEVELS = ("informational", "low", "medium", "high", "critical")
FINDING_LEVELS = frozenset({"high", "critical"})
CONFIDENCE = {"critical": 0.9, "high": 0.8, "medium": 0.6, "low": 0.4, "informational": 0.3}
SEVERITY = {"critical": Severity.HIGH, "high": Severity.HIGH, "medium": Severity.MEDIUM, "low": Severity.LOW,
            "informational": Severity.INFO}
SOURCE_LICENCE = {"sigmahq": "DRL 1.1 (SigmaHQ/sigma)", "minescope": "Apache-2.0 (minescope)"}


# --- SQL literals both engines read alike ------------------------------------------------------------

_SPECIAL = re.compile(r"[\\'{}]")


def sql_literal(text: str) -> str:
    """``text`` as an SQL string expression with no backslash, quote or brace inside a literal (they are
    ``chr(n)``, joined by ``concat``): DuckDB and Spark differ in how they escape inside literals, and ``{`` is
    the templates'."""
    parts: list[str] = []
    pos = 0
    for m in _SPECIAL.finditer(text):
        if m.start() > pos:
            parts.append("'" + text[pos:m.start()] + "'")
        parts.append(f"chr({ord(m.group())})")
        pos = m.end()
    if pos < len(text) or not parts:
        parts.append("'" + text[pos:] + "'")
    return parts[0] if len(parts) == 1 else "concat(" + ", ".join(parts) + ")"  # flat: no depth limit


_REGEX_SPECIAL = frozenset("\\.^$|?*+()[]{}")
REGEX_MIN_VALUES = 3  # from this many values of one field in an OR, one regular expression
# columns the views also show as logged (the prefilter reads them so, not their lower-cased copies)
RAW_COLUMNS = frozenset({"host", "user", "image", "name", "command_line", "cwd", "parent_image", "parent_command_line",
                         "original_name", "remote_ip", "remote_name", "kind", "location", "command"})
PREFILTER_CHARS = 8  # the prefilter looks for the first this many characters of each text a rule needs


def regex_literal(text: str) -> str:
    """``text`` matched literally by RE2 (DuckDB) and by Java's regular expressions (Spark) alike."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


# --- the backend ----------------------------------------------------------------------------------------

def _backend_class() -> type:
    from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
    from sigma.conversion.base import TextQueryBackend
    from sigma.conversion.state import ConversionState
    from sigma.types import SigmaCasedString, SigmaCompareExpression, SigmaRegularExpression, SigmaString, SpecialChars

    def literal_pattern(value: Any) -> str | None:
        """A value with wildcards at most at its ends, as an anchored regular expression; None otherwise."""
        if not isinstance(value, SigmaString) or isinstance(value, SigmaCasedString):
            return None
        parts = list(value.s)
        head = bool(parts) and parts[0] == SpecialChars.WILDCARD_MULTI
        tail = len(parts) > int(head) and parts[-1] == SpecialChars.WILDCARD_MULTI
        inner = [p for p in parts[int(head):len(parts) - int(tail)] if isinstance(p, str)]
        if len(inner) != len(parts) - int(head) - int(tail):
            return None
        text = regex_literal("".join(inner).lower())
        return ("" if head else "\\A") + text + ("" if tail else "\\z")

    class SqlBackend(TextQueryBackend):
        """Sigma to one SQL boolean expression per rule, on the ``sigma_*`` views' ``lc_`` columns."""

        name: ClassVar[str] = "minescope SQL (DuckDB and Spark)"
        formats: ClassVar[dict[str, str]] = {"default": "SQL condition"}
        requires_pipeline: ClassVar[bool] = True
        precedence: ClassVar[tuple[type, type, type]] = (ConditionNOT, ConditionAND, ConditionOR)
        group_expression: ClassVar[str] = "({expr})"
        token_separator: str = " "
        or_token: ClassVar[str] = "OR"
        and_token: ClassVar[str] = "AND"
        not_token: ClassVar[str] = "NOT"
        eq_token: ClassVar[str] = " = "
        str_quote: ClassVar[str] = ""
        wildcard_multi: ClassVar[str] = "*"
        wildcard_single: ClassVar[str] = "?"
        eq_expression: ClassVar[str] = "lc_{field} = {value}"
        startswith_expression: ClassVar[str] = "{{startswith}}(lc_{field}, {value})"
        endswith_expression: ClassVar[str] = "{{endswith}}(lc_{field}, {value})"
        contains_expression: ClassVar[str] = "contains(lc_{field}, {value})"
        wildcard_match_expression: ClassVar[str] = "{{regexp}}(lc_{field}, {regex})"
        case_sensitive_match_expression: ClassVar[str] = "{field} = {value}"
        case_sensitive_startswith_expression: ClassVar[str] = "{{startswith}}({field}, {value})"
        case_sensitive_endswith_expression: ClassVar[str] = "{{endswith}}({field}, {value})"
        case_sensitive_contains_expression: ClassVar[str] = "contains({field}, {value})"
        re_expression: ClassVar[str] = "{{regexp}}({field}, {regex})"
        re_escape_char: ClassVar[str] = "\\"
        re_escape: ClassVar[list[str]] = []
        re_escape_escape_char: bool = True
        re_flag_prefix: bool = True
        field_null_expression: ClassVar[str] = "{field} IS NULL"
        field_in_list_expression: ClassVar[str] = "lc_{field} {op} ({list})"
        or_in_operator: ClassVar[str] = "IN"
        convert_or_as_in: ClassVar[bool] = True
        convert_and_as_in: ClassVar[bool] = False
        in_expressions_allow_wildcards: ClassVar[bool] = False
        list_separator: ClassVar[str] = ", "
        compare_op_expression: ClassVar[str] = "lc_{field} {operator} {value}"
        compare_operators: ClassVar[dict[Any, str]] = {
            SigmaCompareExpression.CompareOperators.LT: "<", SigmaCompareExpression.CompareOperators.LTE: "<=",
            SigmaCompareExpression.CompareOperators.GT: ">", SigmaCompareExpression.CompareOperators.GTE: ">=",
        }
        cased: bool = False

        def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
            text = "".join(p if isinstance(p, str) else ("*" if p == SpecialChars.WILDCARD_MULTI else "?")
                           for p in s.s)
            return sql_literal(text if self.cased else text.lower())

        def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
            pattern = r.escape([], "\\", False, True)
            if not self.cased:  # a wildcard value (``a*b``): the whole lower-cased value, newlines included
                pattern = f"(?is)^{pattern}$"
            return sql_literal(pattern)

        def convert_condition_field_eq_val_str_case_sensitive(
                self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
            self.cased = True
            try:
                return super().convert_condition_field_eq_val_str_case_sensitive(cond, state)
            finally:
                self.cased = False

        def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                              state: ConversionState) -> Any:
            self.cased = True  # a regular expression is matched as written, on the column itself
            try:
                return super().convert_condition_field_eq_val_re(cond, state)
            finally:
                self.cased = False

        def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> Any:
            return f"lc_{cond.field} = {cond.value}"

        def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Any:
            """Many ``contains``/``startswith``/``endswith`` values of one field: one regular expression
            (an automaton reads the value once, where hundreds of ``contains`` read it hundreds of times)."""
            args = [a for a in cond.args if isinstance(a, ConditionFieldEqualsValueExpression)]
            if len(args) >= REGEX_MIN_VALUES and len(args) == len(cond.args):
                fields = {a.field for a in args}
                patterns = [literal_pattern(a.value) for a in args]
                wild = any(isinstance(a.value, SigmaString) and a.value.contains_special() for a in args)
                if len(fields) == 1 and wild and all(p is not None for p in patterns):
                    field = fields.pop()
                    alternation = "|".join(dict.fromkeys(p for p in patterns if p is not None))
                    expr = f"{{regexp}}(lc_{field}, {sql_literal('(?s)' + alternation)})"
                    return expr
            return super().convert_condition_or(cond, state)

        def convert_condition_as_in_expression(self, cond: Any, state: ConversionState) -> Any:
            if isinstance(cond, ConditionAND):
                raise NotImplementedError("AND of values of one field")
            return super().convert_condition_as_in_expression(cond, state)

        def finalize_query_default(self, rule: Any, query: Any, index: int, state: ConversionState) -> Any:
            return query

        def needs(self, node: Any) -> list[tuple[str, str]] | None:
            """Literals of which a matching row holds at least one (column, lower-case text), from the
            processed condition tree; None when no such list exists (a NOT, a number, a regular expression)."""
            if isinstance(node, ConditionFieldEqualsValueExpression):
                if not isinstance(node.value, SigmaString) or isinstance(node.value, SigmaRegularExpression):
                    return None
                plain = [p for p in node.value.s if isinstance(p, str)]
                longest = max(plain, key=len, default="")
                return [(node.field, longest.lower())] if longest else None
            if isinstance(node, ConditionOR):
                out: list[tuple[str, str]] = []
                for arg in node.args:
                    sub = self.needs(arg)
                    if sub is None:
                        return None
                    out += sub
                return out
            if isinstance(node, ConditionAND):
                subs = [sub for sub in (self.needs(arg) for arg in node.args) if sub is not None]
                # the most selective: its shortest text the longest, then the fewest texts
                return min(subs, key=lambda sub: (-min(len(t) for _, t in sub), len(sub))) if subs else None
            return None

    return SqlBackend


@lru_cache(maxsize=1)
def _backend_type() -> type:
    return _backend_class()


def _pipeline(target: Target) -> Any:
    from sigma.processing.conditions import IncludeFieldCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import DropDetectionItemTransformation, FieldMappingTransformation

    items = []
    if target.drop:
        items.append(ProcessingItem(DropDetectionItemTransformation(),
                                    field_name_conditions=[IncludeFieldCondition(list(target.drop))]))
    if target.any_arg:
        items.append(ProcessingItem(_AnyArgument()))
    mapping: dict[str | None, str | list[str]] = {k: v for k, v in target.fields.items()}
    items.append(ProcessingItem(FieldMappingTransformation(mapping)))
    return ProcessingPipeline(items=items, name=f"minescope {target.name}")


def _any_argument_class() -> type:
    from sigma.modifiers import SigmaContainsModifier
    from sigma.processing.transformations.base import DetectionItemTransformation
    from sigma.types import SigmaString, SpecialChars

    class AnyArgument(DetectionItemTransformation):
        """auditd execve: the argument a1 (…a7) is somewhere in the whole command line."""

        def apply_detection_item(self, detection_item: Any) -> Any:
            if not re.fullmatch(r"a[0-7]", detection_item.field or ""):
                return None
            values = []
            for v in detection_item.value:
                if isinstance(v, SigmaString):
                    if not v.startswith(SpecialChars.WILDCARD_MULTI):
                        v = SigmaString("*") + v
                    if not v.endswith(SpecialChars.WILDCARD_MULTI):
                        v = v + SigmaString("*")
                values.append(v)
            detection_item.value = values
            detection_item.modifiers = [m for m in detection_item.modifiers if m is not SigmaContainsModifier]
            return detection_item

    return AnyArgument


def _AnyArgument() -> Any:
    return _any_argument_class()()


# --- rules ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SigmaRule:
    """A rule that runs: its identity, where it came from, and its SQL condition (with dialect placeholders)."""

    id: str
    title: str
    level: str
    source: str  # sigmahq | minescope | the user folder's name
    path: str  # relative to its folder
    author: str
    table: str
    view: str
    condition: str
    references: tuple[str, ...] = ()
    # (column, text): a row the rule matches holds one of these in the lower-cased column; None: no such list
    needs: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class SkippedRule:
    """A rule that does not run, and why (one line)."""

    id: str
    title: str
    source: str
    path: str
    reason: str


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[SigmaRule, ...]
    skipped: tuple[SkippedRule, ...]

    def by_id(self) -> dict[str, SigmaRule]:
        return {r.id: r for r in self.rules}


def bundled_folders() -> list[tuple[str, Path]]:
    """SigmaHQ's rules and minescope's own, as shipped."""
    return [("sigmahq", data_path("host", "sigma")), ("minescope", data_path("host", "rules"))]


def user_folders() -> list[tuple[str, Path]]:
    """The folders of ``$MINESCOPE_SIGMA_RULES`` (separated by ``os.pathsep``); each must exist."""
    raw = settings.SIGMA_RULES.value() or ""
    out = []
    for part in (p for p in raw.split(os.pathsep) if p.strip()):
        path = Path(part).expanduser()
        if not path.exists():
            raise InputError(f"MINESCOPE_SIGMA_RULES 中的 {path} 不存在",
                             f"{path} in MINESCOPE_SIGMA_RULES does not exist")
        out.append((path.name or "user", path))
    return out


def _rule_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def _target(logsource: Mapping[str, Any]) -> Target | None:
    category, service = logsource.get("category"), logsource.get("service")
    if service == "auditd" and category is None:
        return TARGETS["auditd"]
    if category in REGISTRY_CATEGORIES:
        return TARGETS["registry"]
    return TARGETS.get(str(category)) if category else None


def _fields(detection: Mapping[str, Any]) -> set[str]:
    """Every Sigma field a rule's detection names (the part before ``|``); '' for a keyword search."""
    out: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                out.add(str(k).split("|")[0])
                if isinstance(v, Mapping):
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, Mapping | list):
                    walk(v)
                else:
                    out.add("")
        else:
            out.add("")

    for name, value in detection.items():
        if name not in ("condition", "timeframe"):
            walk(value)
    return out


def compile_rule(text: str, source: str, path: str, filters: Sequence[Any] = ()) -> SigmaRule | SkippedRule:
    """One rule file's text, compiled, with the Sigma filters (``filter:`` documents) that name it applied;
    or why it cannot run."""
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule as PySigmaRule

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return SkippedRule("", path, source, path, f"not YAML: {str(e).splitlines()[0]}")
    if not isinstance(doc, dict) or "detection" not in doc:
        return SkippedRule("", path, source, path, "not a Sigma rule (no detection)")
    rid, title = str(doc.get("id", "")), str(doc.get("title", path))

    def skip(reason: str) -> SkippedRule:
        return SkippedRule(rid, title, source, path, reason)

    if "correlation" in doc:
        return skip("a correlation rule: not supported")
    logsource = doc.get("logsource") or {}
    target = _target(logsource)
    if target is None and str(logsource.get("category")) in UNMAPPED:
        return skip(f"log source {logsource.get('category')}: {UNMAPPED[str(logsource.get('category'))]}")
    if target is None:
        what = "/".join(str(logsource[k]) for k in ("product", "category", "service") if logsource.get(k))
        return skip(f"log source {what or 'none'}: no host table holds it")
    names = _fields(doc["detection"])
    if "" in names:
        return skip("a keyword search (values without a field): the tables have no raw message to search")
    missing = sorted(names - set(target.fields) - set(target.drop))
    if missing:
        return skip(f"field {', '.join(missing)} is not in the {target.table} table ({target.name})")
    try:
        rule = PySigmaRule.from_yaml(text)
        for f in filters:
            rule = f.apply_on_rule(rule)
        backend = _backend_type()(processing_pipeline=_pipeline(target))
        queries = backend.convert_rule(rule)
    except (SigmaError, NotImplementedError, TypeError, ValueError) as e:
        return skip(f"pySigma cannot convert it: {str(e).splitlines()[0][:160]}")
    if len(queries) != 1 or not isinstance(queries[0], str):
        return skip("pySigma gave no single SQL condition")
    needs = backend.needs(rule.detection.parsed_condition[0].parsed)
    level = str(doc.get("level") or "medium").lower()
    refs = tuple(str(r) for r in doc.get("references") or ())
    return SigmaRule(rid, title, level if level in LEVELS else "medium", source, path, str(doc.get("author", "")),
                     target.table, target.view, queries[0], refs,
                     tuple(dict.fromkeys(needs)) if needs is not None else None)


def load_rules(folders: Sequence[tuple[str, Path]] | None = None) -> RuleSet:
    """The rules of ``folders`` ((source, folder) pairs; default: the bundled ones and the user's), compiled.
    Sigma filters found among them apply to every rule they name, whichever folder it is in."""
    if folders is None:
        users = user_folders()
        return _bundled() if not users else _load((*bundled_folders(), *users))
    return _load(tuple(folders))


@lru_cache(maxsize=1)
def _bundled() -> RuleSet:
    return _load(tuple(bundled_folders()))


def _load(folders: tuple[tuple[str, Path], ...]) -> RuleSet:
    from sigma.exceptions import SigmaError
    from sigma.filters import SigmaFilter

    rules: list[SigmaRule] = []
    skipped: list[SkippedRule] = []
    seen: set[str] = set()
    files: list[tuple[str, str, str]] = []
    filters: list[Any] = []
    for source, folder in folders:
        for path in _rule_files(folder):
            rel = path.name if folder.is_file() else path.relative_to(folder).as_posix()
            text = path.read_text(encoding="utf-8")
            if re.search(r"^filter:", text, re.MULTILINE):
                try:
                    filters.append(SigmaFilter.from_yaml(text))
                except (SigmaError, ValueError, TypeError) as e:
                    skipped.append(SkippedRule("", rel, source, rel, f"not a valid Sigma filter: {str(e)[:160]}"))
            else:
                files.append((source, rel, text))
    for source, rel, text in files:
        compiled = compile_rule(text, source, rel, filters)
        if isinstance(compiled, SigmaRule) and compiled.id in seen:
            compiled = SkippedRule(compiled.id, compiled.title, source, rel, "another rule has the same id")
        if isinstance(compiled, SigmaRule):
            seen.add(compiled.id)
            rules.append(compiled)
        else:
            skipped.append(compiled)
    return RuleSet(tuple(rules), tuple(skipped))


def skipped(rules: RuleSet | None = None) -> list[SkippedRule]:
    """The rules that do not run, each with its reason (for the documentation and ``--explain``)."""
    return list((rules or load_rules()).skipped)


# --- running ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SigmaMatch:
    """A row of a host table that a rule matched."""

    rule_id: str
    title: str
    level: str
    rule_source: str
    table: str
    ts: float
    host: str | None
    pid: int | None
    user: str | None
    image: str | None
    command_line: str | None
    parent_image: str | None
    remote_ip: str | None = None
    remote_port: int | None = None
    remote_name: str | None = None
    input: str | None = None


def table_sql(rules: Sequence[SigmaRule], table: str, dialect: Mapping[str, str]) -> tuple[str | None, str] | None:
    """The queries over ``table`` for its rules: the candidate rows (the prefilter; None when there is none),
    and the match query over ``{rows}`` (the candidates, or the view): the shown columns and the indexes of the
    rules that hit. None when no rule reads the table."""
    mine = [(i, r) for i, r in enumerate(rules) if r.table == table]
    if not mine:
        return None
    view = mine[0][1].view
    conditions = [(i, r.condition.format(**dialect)) for i, r in mine]
    hits = ", ".join(f"CASE WHEN {c} THEN '{i}' END" for i, c in conditions)
    where = " OR ".join(f"({c})" for _, c in conditions)
    prefilter = _prefilter([r for _, r in mine], dialect)
    candidates = f"SELECT * FROM {view} WHERE {prefilter}" if prefilter else None
    return candidates, f"SELECT {OUTPUT[table]}, concat_ws(',', {hits}) AS sigma_hits FROM {{rows}} WHERE {where}"


def _prefilter(rules: Sequence[SigmaRule], dialect: Mapping[str, str]) -> str:
    """One regular expression per column over the texts a match must hold (``SigmaRule.needs``): most rows
    fail it after one pass of an automaton, and only the rest meet the rules' own conditions. Empty when a
    rule has no such texts (it must then see every row)."""
    by_column: dict[str, set[str]] = defaultdict(set)
    for r in rules:
        if r.needs is None:
            return ""
        for column, text in r.needs:
            by_column[column].add(text[:PREFILTER_CHARS])
    out = []
    for column, texts in sorted(by_column.items()):
        # a text that holds another is implied by it: keep the shortest, so the automaton stays small
        kept = sorted(t for t in texts if not any(o != t and o in t for o in texts))
        # on the column as logged, case-insensitively: the lower-cased copies are made for the few rows that pass
        pattern = "(?is)" + "|".join(regex_literal(t) for t in kept)
        name = column if column in RAW_COLUMNS else f"lc_{column}"
        out.append(f"{dialect['regexp']}({name}, {sql_literal(pattern)})")
    return " OR ".join(out)


def sigma_matches(engine: SqlEngine, rules: RuleSet | None = None) -> list[SigmaMatch]:
    """Run the rules on an engine that holds the host tables and has ``PREPARED`` made (``prepare``)."""
    ruleset = rules or load_rules()
    dialect = DIALECTS.get(engine.name, DIALECTS["duckdb"])
    out: list[SigmaMatch] = []
    for table in PREPARED.tables:
        queries = table_sql(ruleset.rules, table, dialect)
        if queries is None:
            continue
        candidates, match = queries
        rows = f"sigma_{table}"
        if candidates is not None:  # kept once: every rule then reads only these few rows
            rows = f"sigma_candidates_{table}"
            engine.materialize(rows, candidates)
        for row in engine.query(match.replace("{rows}", rows)):
            for index in row["sigma_hits"].split(","):
                r = ruleset.rules[int(index)]
                out.append(SigmaMatch(r.id, r.title, r.level, r.source, table, float(row["t"]), row["host"],
                                      row["pid"], row["user"], row["image"], row["command_line"],
                                      row["parent_image"], row["remote_ip"], row["remote_port"], row["remote_name"],
                                      row["input"]))
    return sorted(out, key=_match_order)


def _match_order(m: SigmaMatch) -> tuple[Any, ...]:
    return (m.table, m.host or "", m.ts, m.pid or 0, m.image or "", m.command_line or "", m.remote_name or "",
            m.remote_ip or "", m.remote_port or 0, m.input or "", m.rule_id)


def match_tables(tables: Mapping[str, pa.Table] | Iterable[tuple[str, pa.Table]], engine: SqlEngine | None = None,
                 rules: RuleSet | None = None) -> list[SigmaMatch]:
    """The matches of the rules (default: bundled and the user's) on whole host tables (Arrow, by table name:
    ``processes``, ``connections``, ``persistence``), on ``engine`` (default: a new DuckDB, closed after)."""
    own = engine is None
    eng = engine or open_engine("duckdb")
    try:
        items = tables.items() if isinstance(tables, Mapping) else tables
        for name, data in items:
            schema = PREPARED.tables.get(name)
            if schema is not None and data.num_rows:
                eng.append(name, data if data.schema.equals(schema) else data.select(schema.names).cast(schema))
        eng.prepare(PREPARED)
        return sigma_matches(eng, rules)
    finally:
        if own:
            eng.close()


def detect(tables: Mapping[str, pa.Table] | Iterable[tuple[str, pa.Table]], engine: SqlEngine | None = None,
           rules: RuleSet | None = None) -> list[Finding]:
    """Findings (``miner_process``, ``miner_persistence``) from whole host tables: ``match_tables`` then
    ``findings``."""
    ruleset = rules or load_rules()
    return findings(match_tables(tables, engine, ruleset), ruleset)


# --- findings ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
# -S: ethminer's stratum server before 0.15; -l: nheqminer's pool location
_POOL_OPTIONS = frozenset({"-o", "--url", "--pool", "-p", "-pool", "-epool", "--server", "-pool1", "-P", "-S", "-l"})
_USER_OPTIONS = frozenset({"-u", "--user", "-ewal", "-wal", "--wallet", "-wallet", "-O", "--userpass"})
_ALGO_OPTIONS = frozenset({"-a", "--algo", "--algorithm", "-algo", "--coin", "-coin", "--currency"})
_WALLET_OPTIONS = frozenset({"-w"})  # BzMiner's wallet; T-Rex's and NBMiner's worker name: a login only if a wallet
_PORT_OPTIONS = frozenset({"--port", "-port"})  # lolMiner and NanoMiner take the pool's port apart
# solo mining's payout address: cgminer's and BFGMiner's --btc-address, cpuminer's --coinbase-addr
_PAYOUT_OPTIONS = frozenset({"--btc-address", "--coinbase-addr"})
# a host name or address, not a placeholder (<pool>, $POOL, %URL%) left in a script or a how-to
_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<login>[^@/\s]+)@)?"
                  r"(?P<host>[A-Za-z0-9._-]+)(?![^:/\s])(?::(?P<port>\d+))?(?P<path>/\S*)?", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"^[<$%{]|\$\{|<\w+>")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$")
_HOST_PORT = re.compile(
    r"^(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,63}|\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d{2,5})$")
_POOL_SCHEMES = ("stratum", "ethproxy", "ethstratum", "nicehash", "ssl", "tcp", "http", "https")


@dataclass
class MinerArgs:
    """What a miner's command line says of its pool, wallet and algorithm."""

    pool: str | None = None  # host:port
    scheme: str | None = None
    login: str | None = None
    wallet: str | None = None
    account: str | None = None
    worker: str | None = None
    algorithm: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def parse_miner_args(command_line: str | None) -> MinerArgs:
    """The pool (``-o``, ``--url``, ``--pool``, ``-P``, ``--server``, ``-epool``, ``-pool`` …, ethminer's old
    ``-S``, nheqminer's ``-l``, lolMiner's ``--pool host --port n``, or a pool URL anywhere), the login and wallet
    (``-u``, ``--user``, ``-ewal``, ``-wal``, ``--wallet``, ethminer's ``scheme://wallet.worker@host``, getwork's
    ``http://pool/wallet/worker``, BzMiner's ``-w`` when it is a wallet; split by the stratum parser's
    ``split_login``; solo mining's ``--btc-address``/``--coinbase-addr`` when the login is no wallet) and the
    algorithm. A flag followed by another option takes no value (``-U -S host``); a placeholder (``<pool>``,
    ``$POOL``) is no pool."""
    out = MinerArgs()
    if not command_line:
        return out
    tokens = [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(command_line)]
    pairs: list[tuple[str, str]] = []
    for i, tok in enumerate(tokens):
        if tok.startswith("-") and "=" in tok:
            opt, _, value = tok.partition("=")
            pairs.append((opt, value))
        elif tok.startswith("-") and i + 1 < len(tokens) and not _is_option(tokens[i + 1]):
            pairs.append((tok, tokens[i + 1]))  # a flag followed by another option has no value
    port = next((v for o, v in pairs if o.lower() in _PORT_OPTIONS and v.isdigit()), None)
    worker_or_wallet = payout = None
    for opt, value in pairs:
        if _option_in(opt, _POOL_OPTIONS) and out.pool is None and _pool(value, out, port):
            out.options["pool"] = opt
        elif _option_in(opt, _USER_OPTIONS) and out.login is None and not _PLACEHOLDER.search(value):
            out.login = value.split(":")[0] if opt == "--userpass" or opt == "-O" else value
            out.options["user"] = opt
        elif opt.lower() in _ALGO_OPTIONS and out.algorithm is None:
            out.algorithm = value
        elif opt in _WALLET_OPTIONS and worker_or_wallet is None:
            worker_or_wallet = value
        elif opt.lower() in _PAYOUT_OPTIONS and payout is None:
            payout = (opt, value)
    if out.pool is None:
        for tok in tokens:
            if "://" in tok and _pool(tok, out):
                break
    if out.login is None and worker_or_wallet and _wallet_like(worker_or_wallet):
        out.login = worker_or_wallet
        out.options["user"] = "-w"
    if out.login:
        out.wallet, out.account, out.worker = split_login(out.login)
    if out.wallet is None and payout and split_login(payout[1])[0]:
        out.wallet = split_login(payout[1])[0]  # solo: -u is the node's RPC user, the coins go to this address
        out.options["wallet"] = payout[0]
    return out


def _is_option(token: str) -> bool:
    """An option name (-x, --name), not a value: negative numbers are values."""
    return token.startswith("-") and len(token) > 1 and not token[1:].replace(".", "", 1).isdigit()


def _wallet_like(value: str) -> bool:
    """A wallet login (BzMiner's -w), not a worker name (T-Rex's -w rig): an address, or a long coin:address."""
    first = value.split(".")[0]
    return bool(split_login(value)[0]) or (len(first) >= 26 and re.fullmatch(r"[A-Za-z0-9:_]+", first) is not None)


def _option_in(opt: str, names: frozenset[str]) -> bool:
    """An option as written, or lower-cased (miners differ in case: -P, -O, -S)."""
    return opt in names or opt.lower() in names


def _pool(value: str, out: MinerArgs, port: str | None = None) -> bool:
    value = value.strip().strip("'\"")
    value = re.sub(r"^\[\d+\]", "", value)  # Rigel's [1]stratum+tcp://… of dual mining
    m = _URL.match(value)
    if m is not None:
        scheme = m.group("scheme").lower()
        if not any(s in scheme for s in _POOL_SCHEMES):
            return False
        out.scheme, out.pool = scheme, m.group("host").lower() + (f":{m.group('port')}" if m.group("port") else "")
        if m.group("login") and out.login is None:
            out.login = m.group("login")
        elif m.group("path") and out.login is None and split_login(m.group("path").strip("/"))[0]:
            out.login = m.group("path").strip("/")  # getwork's http://pool:port/wallet/worker
        return True
    m = _HOST_PORT.match(value)
    if m is not None:
        out.pool = f"{m.group('host').lower()}:{m.group('port')}"
        return True
    if port and _HOST.match(value):  # lolMiner's --pool host --port n
        out.pool = f"{value.lower()}:{port}"
        return True
    return False


def findings(matches: Iterable[SigmaMatch], rules: RuleSet | None = None) -> list[Finding]:
    """One finding per (host, executable, command line) — or per (host, persistence entry, command) — with
    every rule that matched it; groups without a rule of level high or critical make none."""
    by_id = (rules or load_rules()).by_id()
    groups: dict[tuple[str, str, str, str], list[SigmaMatch]] = defaultdict(list)
    for m in matches:
        groups[((m.table == "persistence" and "persistence") or "process", host_of(m.host, m.input), m.image or "",
                m.command_line or "")].append(m)
    out = []
    for key, group in groups.items():
        if not any(m.level in FINDING_LEVELS for m in group):
            continue
        out.append(_finding(key, sorted(group, key=_match_order), by_id))
    return sorted(out, key=lambda f: (f.subject.value, f.kind, f.key))


def _finding(key: tuple[str, str, str, str], group: list[SigmaMatch], by_id: Mapping[str, SigmaRule]) -> Finding:
    what, host, image, command_line = key
    persistence = what == "persistence"
    rules: dict[str, SigmaMatch] = {}
    for m in group:
        rules.setdefault(m.rule_id, m)
    best = max(rules.values(), key=lambda m: LEVELS.index(m.level))
    args = parse_miner_args(command_line)
    shown = command_line if len(command_line) <= 300 else command_line[:297] + "..."
    first = min(m.ts for m in group)
    last = max(m.ts for m in group)
    pids = sorted({m.pid for m in group if m.pid is not None})
    users = sorted({m.user for m in group if m.user})
    inputs = sorted({m.input for m in group if m.input})
    if persistence:
        reasons = [Text(zh=f"{host} 上的持久化项 {image} 启动挖矿程序：{shown}",
                        en=f"the persistence entry {image} on {host} starts a miner: {shown}")]
    elif command_line:
        reasons = [Text(zh=f"{host} 上的进程 {image or '（未知程序）'} 以挖矿参数运行：{shown}",
                        en=f"the process {image or '(unknown executable)'} on {host} runs as a miner: {shown}")]
    else:
        reasons = [Text(zh=f"{host} 上的进程 {image or '（未知程序）'} 连接矿池",
                        en=f"the process {image or '(unknown executable)'} on {host} connects to a mining pool")]
    evidence: list[Evidence] = []
    for m in rules.values():
        rule = by_id.get(m.rule_id)
        reasons.append(Text(zh=f"命中 Sigma 规则「{m.title}」（{m.rule_source}，级别 {m.level}）",
                            en=f"matches the Sigma rule \"{m.title}\" ({m.rule_source}, level {m.level})"))
        evidence.append(Evidence("sigma_rule", f"{m.title} ({m.rule_id})", {
            "rule_id": m.rule_id, "title": m.title, "level": m.level, "rule_source": m.rule_source,
            "author": rule.author if rule else "", "path": rule.path if rule else "",
            "licence": SOURCE_LICENCE.get(m.rule_source, "user rules"),
        }, f"sigma:{m.rule_source}"))
    detail: dict[str, Any] = {"host": host, "image": image or None, "command_line": command_line or None,
                              "users": users, "pids": pids[:20], "rows": len({(m.ts, m.pid, m.remote_name,
                                                                               m.remote_ip, m.remote_port)
                                                                              for m in group})}
    parents = sorted({m.parent_image for m in group if m.parent_image})
    if parents:
        detail["parent_images"] = parents
    evidence.append(Evidence("persistence" if persistence else "process",
                             f"{image or '?'}: {shown}" if command_line else (image or "?"), detail, "host logs"))
    endpoints = sorted({(m.remote_name or "", m.remote_ip or "", m.remote_port or 0) for m in group
                        if m.remote_ip or m.remote_name})
    for name, ip, port in endpoints[:20]:
        evidence.append(Evidence("connection", f"{name or ip}:{port}",
                                 {"remote_name": name or None, "remote_ip": ip or None, "remote_port": port},
                                 "host logs"))
        reasons.append(Text(zh=f"连接 {name or ip}:{port}", en=f"connected to {name or ip}:{port}"))
    mining = None
    if args.pool or args.wallet or args.login:
        pool = args.pool or "?"
        evidence.append(Evidence("miner_arguments", f"pool {pool}, wallet {args.wallet or args.account or '?'}", {
            "pool": args.pool, "scheme": args.scheme, "login": args.login, "wallet": args.wallet,
            "account": args.account, "worker": args.worker, "algorithm": args.algorithm}, "command line"))
        who = args.wallet or args.account
        reasons.append(Text(zh=f"命令行中的矿池 {pool}，钱包 {who or '未知'}",
                            en=f"pool {pool} and wallet {who or 'unknown'} on the command line"))
        mining = MiningFacts(protocol=_protocol(args.scheme), algorithm=args.algorithm,
                             pool_host=args.pool.rsplit(":", 1)[0] if args.pool else None, wallet=args.wallet,
                             account=args.account, login=args.login, worker=args.worker)
    return Finding(
        kind=MINER_PERSISTENCE if persistence else MINER_PROCESS, subject_ip=None, peer=None, flows=(),
        confidence=CONFIDENCE[best.level], severity=SEVERITY[best.level], reasons=tuple(reasons),
        evidence=tuple(evidence), source=PurePath(inputs[0]).name if inputs else "host logs",
        other_sources=tuple(PurePath(i).name for i in inputs[1:]), mining=mining, dimension=Dimension.HOST,
        subject=Subject(SubjectType.HOST, host), first_seen=first if math.isfinite(first) else 0.0,
        last_seen=last if math.isfinite(last) else 0.0, key=f"{what}|{image}|{command_line}",
    )


def _protocol(scheme: str | None) -> str:
    if scheme and "ethproxy" in scheme:
        return "ethproxy"
    if scheme and scheme.startswith("http"):
        return "getwork"
    return "stratum"
