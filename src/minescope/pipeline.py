"""One scan: inputs → flows → findings → enrichment, as a ``ScanResult``.

Each capture gets its own flow table (flows do not continue across files, so a finding always
names the one capture it rests on). Its payload gives mining sessions and node traffic
(``detectors.payload``); its flows and DNS go through the same SQL detectors as flow logs, with the
pools learned from payload so far (``LearnedPools``), so a capture and the same capture imported as
flows give the same payload-less findings. The pool knowledge learned from one capture carries into
the next. Flow logs (NetFlow/IPFIX, nfdump, Zeek, Suricata, mapped CSV/Parquet) are told from
captures by content (``flows.inputs.detect_format``), and flow datasets (partitioned Parquet,
``flows.dataset``) by their layout; all flow logs and datasets of a scan go to one SQL engine
(DuckDB, or Spark with ``ScanOptions.engine``) after the captures, so DNS from one log explains
flows of another and pools learned from captures apply (``detect.flowlog``). A dataset is read
incrementally when ``ScanOptions.seen_files`` says which of its files were scanned before.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.network.capture.flows import FlowTracker
from minescope.dimensions.network.detectors.flowlog import EXPLAINED, FlowLogDetector
from minescope.dimensions.network.detectors.payload import CaptureDetector, flows_from_table
from minescope.dimensions.network.readers.capture_flows import dns_from_capture, flows_from_capture, tls_from_capture
from minescope.dimensions.network.readers.dataset import (
    DatasetFile,
    FlowDataset,
    is_dataset,
    name_problem,
    readable,
    select_files,
)
from minescope.dimensions.network.readers.dataset import summarize as summarize_files
from minescope.dimensions.network.readers.inputs import DIR_LOG_FORMATS, FlowLogInput, detect_format
from minescope.dimensions.network.readers.live import live_blocks, until_interrupt, warm_up_block
from minescope.dimensions.network.readers.pcap import CAPTURE_SUFFIXES, Block, CaptureFile
from minescope.engines.sql import open_engine
from minescope.enrich.attribution import Attributor
from minescope.enrich.estimate import estimate_energy
from minescope.knowledge.pools import LoadedList, PoolIntel
from minescope.model import Attribution, Finding, InputSummary, ScanResult, SubjectType, Text, merge_same
from minescope.readers.mapped import Mapping, export_kind, fits, identity_mapping, source_names, table_dimension
from minescope.readers.names import path_text
from minescope.readers.report import InputReport

# Pool sessions last hours; a flow ends only after this long without a packet (nfstream's default
# of 120 s would cut a miner's session at every quiet spell between shares).
DEFAULT_IDLE_TIMEOUT = 3600.0

Progress = Callable[[int], None]  # called with bytes read since the last call


@dataclass
class ScanOptions:
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    feeds: list[Path] = field(default_factory=list)
    registry: Path | None = None
    engine: str = "duckdb"  # for flow logs and datasets: "duckdb" or "spark"
    behaviour: bool = True  # the behaviour model's leads beside the list detectors (flow logs)
    leads_top: int | None = None  # keep only this many leads of each detector run, best ranked first
    # dataset id → keys (DatasetFile.key) of its files already scanned; None reads every file
    seen_files: Callable[[str], set[str]] | None = None
    lists: list[LoadedList] = field(default_factory=list)  # pool lists not from files: the store's confirmed pools
    mappings: list[Mapping] = field(default_factory=list)  # column mappings for CSV, Parquet and JSON-lines exports


class Scanner:
    """Holds what lasts across inputs of one scan: pool knowledge and attribution."""

    def __init__(self, options: ScanOptions | None = None) -> None:
        self.options = options or ScanOptions()
        self.intel = PoolIntel.load(self.options.feeds)
        for loaded in self.options.lists:
            self.intel.add_list(loaded)
        self.attributor = Attributor(self.options.registry)
        self.hosts_seen: set[str] = set()  # addresses seen since the scan began
        self.dataset_files: list[tuple[str, DatasetFile]] = []  # dataset files read by the last scan
        self.datasets_read: list[tuple[Path, int, int]] = []  # (root, files read, files skipped as seen)
        # Bad lines in pool lists and the registry were skipped; the user still hears about each.
        self.knowledge_problems = (
            [_skipped("名单文件", "pool list", line) for line in self.intel.problems()]
            + [_skipped("单位登记表", "organisation registry", line) for line in self.attributor.problems]
        )

    def scan(self, paths: Iterable[Path], progress: Progress | None = None) -> ScanResult:
        started = time.time()
        t0 = time.perf_counter()
        self.hosts_seen.clear()
        self.dataset_files = []
        self.datasets_read = []
        split = split_inputs(list(paths), self.options.mappings)
        inputs = [InputSummary(path=path_text(p), format="", problem=why) for p, why in split.problems]
        findings: list[Finding] = []
        for path in split.captures:
            summary, found = self.scan_capture(CaptureFile(path), path_text(path.name), progress)
            inputs.append(summary)
            findings.extend(found)
        if split.logs or split.datasets:
            summaries, found = self.scan_flow_logs(split.logs, progress, split.datasets, split.mappings)
            inputs.extend(summaries)
            findings.extend(found)
        if split.host_logs:
            summaries, found = self.scan_host_logs(split.host_logs, progress, split.mappings)
            inputs.extend(summaries)
            findings.extend(found)
        if split.power:
            summaries, found = self.scan_power(split.power, progress, split.mappings)
            inputs.extend(summaries)
            findings.extend(found)
        if split.funds:
            summaries, found = self.scan_funds(split.funds, progress, split.mappings)
            inputs.extend(summaries)
            findings.extend(found)
        if split.content:
            summaries, found = self.scan_content(split.content, progress, split.mappings)
            inputs.extend(summaries)
            findings.extend(found)
        return self.make_result(inputs, findings, started, time.perf_counter() - t0)

    def scan_host_logs(self, paths: list[Path], progress: Progress | None = None,
                       mappings: dict[Path, Mapping] | None = None) -> tuple[list[InputSummary], list[Finding]]:
        """Endpoint logs and host-check reports into the host tables, then the host detectors over all of them
        (the Sigma rules on this scan's engine)."""
        from minescope.dimensions.host import detectors as host_detectors
        from minescope.dimensions.host.readers import HostLogInput

        batches: dict[str, list[pa.RecordBatch]] = {}
        summaries = []
        for path in paths:
            log = HostLogInput(path, mapping=(mappings or {}).get(path))
            for table, batch in log:
                batches.setdefault(table, []).append(batch)
            summaries.append(InputSummary(path=path_text(path), format=log.report.format or "host-log",
                                          problem=_log_problem(log.report), dimension="host"))
            if progress is not None and path.is_file():
                progress(path.stat().st_size)
        tables = {name: pa.Table.from_batches(b) for name, b in batches.items()}
        engine = open_engine(self.options.engine)
        try:
            found = host_detectors.detect(tables, self.intel, engine)
        finally:
            engine.close()
        # a machine a host check looked at is checked, as a host whose traffic a capture saw: a clean report
        # verifies its rectifying case (cases.workflow.verify_clean)
        checked = tables.get("resources")
        if checked is not None:
            self.hosts_seen |= set(host_detectors.host_addresses({"resources": checked}).values())
        return summaries, [self._enrich(f) for f in found]

    def scan_power(self, paths: list[Path], progress: Progress | None = None,
                   mappings: dict[Path, Mapping] | None = None) -> tuple[list[InputSummary], list[Finding]]:
        """Meter, billing and account exports into the power tables on this scan's engine, a batch at a time (a
        province's readings never sit in memory whole), then the power detectors over all of them."""
        from minescope.dimensions.power import detectors as power_detectors
        from minescope.dimensions.power.readers import PowerInput, ReadingCompleter

        summaries = []
        held: set[str] = set()
        engine = open_engine(self.options.engine)
        try:
            for path in paths:
                export, complete = PowerInput(path, (mappings or {}).get(path)), ReadingCompleter()
                for table, batch in export:
                    engine.append(table, complete(batch) if table == "readings" else batch)
                    held.add(table)
                if complete.unknown:
                    export.report.note(
                        f"{complete.unknown} 条读数的采集间隔无法从相邻读数得出，未参与研判；请在映射的 [constants] "
                        "中给出 interval_s（如 900）",
                        f"{complete.unknown} readings whose interval their neighbours do not show were left out; give "
                        "interval_s in the mapping's [constants] (e.g. 900)")
                summaries.append(InputSummary(path=path_text(path), format=export.report.format or "power",
                                              problem=_log_problem(export.report), dimension="power"))
                if progress is not None and path.is_file():
                    progress(path.stat().st_size)
            found = power_detectors.detect(engine=engine, held=held)
        finally:
            engine.close()
        return summaries, [self._enrich(f) for f in found]

    def scan_funds(self, paths: list[Path], progress: Progress | None = None,
                   mappings: dict[Path, Mapping] | None = None) -> tuple[list[InputSummary], list[Finding]]:
        """Statement, account, known-counterparty and USDT-price exports into the funds tables on this scan's engine,
        a batch at a time, then the funds typologies over all of them (docs/funds.md)."""
        from minescope.dimensions.funds import detectors as funds_detectors
        from minescope.dimensions.funds.readers import FundsInput

        summaries = []
        held: set[str] = set()
        engine = open_engine(self.options.engine)
        try:
            for path in paths:
                export = FundsInput(path, (mappings or {}).get(path))
                for table, batch in export:
                    engine.append(table, batch)
                    held.add(table)
                summaries.append(InputSummary(path=path_text(path), format=export.report.format or "funds",
                                              problem=_log_problem(export.report), dimension="funds"))
                if progress is not None and path.is_file():
                    progress(path.stat().st_size)
            found = funds_detectors.detect(engine=engine, held=held)
        finally:
            engine.close()
        return summaries, [self._enrich(f) for f in found]

    def scan_content(self, paths: list[Path], progress: Progress | None = None,
                     mappings: dict[Path, Mapping] | None = None) -> tuple[list[InputSummary], list[Finding]]:
        """Listing, post, comment and app exports into the items table a batch at a time, each batch through the
        content matcher as it is read (docs/content.md)."""
        from minescope.dimensions.content.detectors import ContentDetector
        from minescope.dimensions.content.readers import ContentInput

        detector = ContentDetector()
        summaries = []
        for path in paths:
            export = ContentInput(path, (mappings or {}).get(path))
            for _table, batch in export:
                detector.add(batch)
            summaries.append(InputSummary(path=path_text(path), format=export.report.format or "content",
                                          problem=_log_problem(export.report), dimension="content"))
            if progress is not None and path.is_file():
                progress(path.stat().st_size)
        return summaries, [self._enrich(f) for f in detector.findings()]

    def scan_content_files(self, paths: Iterable[Path], progress: Progress | None = None) -> ScanResult:
        """``minescope content scan``: every file (and every file of a folder) read as a content export, through
        the first of ``ScanOptions.mappings`` of the items table that fits its columns, else by its own column
        names; a file that is neither is one problem."""
        started = time.time()
        t0 = time.perf_counter()
        files: list[Path] = []
        problems: list[tuple[Path, Text]] = []
        for p in paths:
            if p.is_dir():
                walked, skipped = _walk(p)
                files += walked
                problems += skipped
            elif p.is_file():
                why = _unreadable(p)
                if why is None:
                    files.append(p)
                else:
                    problems.append((p, why))
            else:
                problems.append((p, Text(zh=f"{path_text(p)}: 文件不存在；请检查路径",
                                         en=f"{path_text(p)}: no such file; check the path")))
        chosen: list[Path] = []
        mappings: dict[Path, Mapping] = {}
        items = [m for m in self.options.mappings if m.table == "items"]
        for f in files:
            kind = export_kind(f)
            names = source_names(f, kind) if kind else []
            mapping = next((m for m in items if fits(m, names)), None) or identity_mapping(names)
            if mapping is None or mapping.table != "items":
                problems.append((f, Text(
                    zh=f"{path_text(f)}: 不是内容导出（CSV、Parquet 或 JSON 行，需 id 或 url 及 title 或 body 列）；"
                       "请用 --mapping 给出列映射（table = \"items\"，见 docs/content.md）",
                    en=f"{path_text(f)}: not a content export (CSV, Parquet or JSON lines with id or url and title or "
                       "body columns); give a column mapping with --mapping (table = \"items\", docs/content.md)")))
                continue
            chosen.append(f)
            mappings[f] = mapping
        inputs = [InputSummary(path=path_text(p), format="", problem=why, dimension="content") for p, why in problems]
        summaries, found = self.scan_content(chosen, progress, mappings)
        return self.make_result(inputs + summaries, found, started, time.perf_counter() - t0)

    def scan_flow_logs(self, paths: list[Path], progress: Progress | None = None, datasets: Sequence[Path] = (),
                       mappings: dict[Path, Mapping] | None = None) -> tuple[list[InputSummary], list[Finding]]:
        """Flow logs and datasets through the payload-less detectors, all on one engine."""
        detector = FlowLogDetector(self.intel, open_engine(self.options.engine), self.intel.learned_pools.table())
        summaries = []
        try:
            for root in datasets:
                summaries.append(self._add_dataset(detector, FlowDataset(root)))
                if progress is not None:
                    progress(sum(f.bytes for _, f in self.dataset_files if f.path.is_relative_to(root)))
            for path in paths:
                mapping = (mappings or {}).get(path)
                log = FlowLogInput(path, "csv" if mapping is not None else None, mapping=mapping)
                summary = InputSummary(path=path_text(path), format="")
                for table, batch in log:
                    detector.add(table, batch)
                    if table == "flows":
                        _count_flows(summary, batch)
                summary.format = log.report.format or "flowlog"
                summary.problem = _log_problem(log.report)
                summaries.append(summary)
                if progress is not None and path.is_file():
                    progress(path.stat().st_size)
            found = detector.run(self.options.behaviour, leads_top=self.options.leads_top)
            self.hosts_seen |= detector.hosts()
        finally:
            detector.close()
        return summaries, [self._enrich(f) for f in found]

    def _add_dataset(self, detector: FlowLogDetector, dataset: FlowDataset) -> InputSummary:
        seen = self.options.seen_files(dataset.id) if self.options.seen_files is not None else set()
        chosen = select_files(dataset, seen)
        flows, bad = readable(chosen.flows)
        dns, bad_dns = readable(chosen.dns)
        context, _ = readable(chosen.dns_context)  # read before: already reported
        detector.add_parquet("flows", [f.path for f in flows])
        detector.add_parquet("dns", [f.path for f in dns])
        detector.add_parquet("dns", [f.path for f in context], is_new=False)
        # unreadable files are not marked as scanned: fixed, they are read next time
        self.dataset_files.extend((dataset.id, f) for f in flows + dns)
        self.datasets_read.append((dataset.root, len(flows) + len(dns), len(seen)))
        counted, first, last = summarize_files(flows)
        summary = InputSummary(path=path_text(dataset.root), format="flow-dataset", flows=counted,
                               first_seen=first, last_seen=last)
        problems = [why for _, why in bad + bad_dns]
        if problems:
            more = len(problems) - 5
            summary.problem = Text(
                zh="；".join(p.zh for p in problems[:5]) + (f"；另有 {more} 个文件" if more > 0 else ""),
                en="; ".join(p.en for p in problems[:5]) + (f"; {more} more file(s)" if more > 0 else ""))
        return summary

    def scan_blocks(self, name: str, fmt: str, blocks: Iterable[Block]) -> tuple[InputSummary, list[Finding]]:
        """Scan packets from any block source (a live interface, for one)."""
        tracker = FlowTracker(self.options.idle_timeout, self._interesting_name)
        for block in blocks:
            tracker.feed(block)
        summary = InputSummary(path=name, format=fmt)
        return summary, self._finish(tracker, summary, name)

    def scan_capture(self, capture: CaptureFile, name: str,
                     progress: Progress | None = None) -> tuple[InputSummary, list[Finding]]:
        with _rare_collections():
            tracker = FlowTracker(self.options.idle_timeout, self._interesting_name)
            seen = 0
            for block in capture.blocks():
                tracker.feed(block)
                if progress is not None:
                    progress(capture.bytes_read - seen)
                    seen = capture.bytes_read
            if progress is not None:
                progress(capture.bytes_read - seen)
            summary = InputSummary(path=path_text(capture.path), format=capture.format, sha256=capture.sha256,
                                   problem=capture.problem)
            return summary, self._finish(tracker, summary, name)

    def _finish(self, tracker: FlowTracker, summary: InputSummary, name: str) -> list[Finding]:
        table = tracker.finish()
        self.hosts_seen |= tracker.hosts()
        summary.packets = tracker.packets
        summary.bytes = tracker.bytes
        summary.flows = tracker.flows_total
        summary.first_seen = tracker.first_ts
        summary.last_seen = tracker.last_ts
        # what needs payload: mining sessions (the pools they show are learned) and node traffic
        payload = CaptureDetector(self.intel, name)
        found = payload.run(flows_from_table(table, tracker.payload), tracker.payload, tracker.pdns)
        self.intel.learn_table(payload.learned())
        # everything else: the capture's flows and DNS through the SQL detectors, as for flow logs
        explained = sorted(payload.explained)
        detector = FlowLogDetector(self.intel, open_engine(self.options.engine), self.intel.learned_pools.table())
        try:
            detector.add("flows", flows_from_capture(table, tracker.payload, name))
            detector.add("dns", dns_from_capture(tracker.dns_seen, name))
            detector.add("tls", tls_from_capture(table, tracker.payload, name))
            found += detector.run(self.options.behaviour, pa.table(
                {"sensor_uid": [str(s) for s in explained], "input": [name] * len(explained)}, schema=EXPLAINED),
                leads_top=self.options.leads_top)
        finally:
            detector.close()
        return [self._enrich(f) for f in found]

    def _interesting_name(self, name: str) -> bool:
        return self.intel.match_mining_domain(name) is not None

    def _enrich(self, finding: Finding) -> Finding:
        """Who the subject is, and what its hash rate costs in power."""
        rate = finding.mining.sizing_hashrate if finding.mining is not None else None
        # a meter's energy is measured, not estimated from a hash rate: kept as its detector gave it
        energy = estimate_energy(rate, as_of_year=_year(finding.first_seen)) if rate is not None else finding.energy
        who: Attribution | None
        if finding.subject.type == SubjectType.IP:
            who = self.attributor.attribute(finding.subject.value)
        elif finding.subject.type == SubjectType.HOST and finding.subject_ip:  # a machine whose address is known
            who = self.attributor.attribute(finding.subject_ip)
        else:
            who = finding.attribution
        return replace(finding, attribution=who, energy=energy)

    def make_result(self, inputs: list[InputSummary], findings: list[Finding], started: float,
                    wall: float) -> ScanResult:
        return ScanResult(
            inputs=self.knowledge_problems + inputs,
            findings=sorted(merge_same(findings), key=lambda f: (f.source, f.first_seen, f.kind)),
            started_at=started, wall_seconds=wall,
            packets=sum(i.packets for i in inputs), bytes=sum(i.bytes for i in inputs),
            flows=sum(i.flows for i in inputs), hosts_seen=frozenset(self.hosts_seen),
        )



def scan_interface(scanner: Scanner, interface: str, duration: float | None) -> ScanResult:
    """Scan live traffic until ``duration`` seconds pass (or Ctrl-C)."""
    warm_up(scanner)
    scanner.hosts_seen.clear()
    started = time.time()
    t0 = time.perf_counter()
    blocks = live_blocks(interface, duration)
    try:
        summary, findings = scanner.scan_blocks(f"interface:{interface}", "interface", until_interrupt(blocks))
    finally:
        blocks.close()
    return scanner.make_result([summary], findings, started, time.perf_counter() - t0)


def warm_up(scanner: Scanner) -> None:
    """Compile the packet path (or load it from numba's cache) before listening, so that the first
    block of live traffic is not held up by it."""
    scanner.scan_blocks("warm-up", "interface", [warm_up_block()])


@dataclass
class Inputs:
    """What a scan's paths hold, each list in name order."""

    captures: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)  # flow and sensor logs
    datasets: list[Path] = field(default_factory=list)  # flow datasets (partitioned Parquet)
    host_logs: list[Path] = field(default_factory=list)  # endpoint logs and host-check reports
    problems: list[tuple[Path, Text]] = field(default_factory=list)  # paths that give nothing to scan
    power: list[Path] = field(default_factory=list)  # meter, billing and account exports
    content: list[Path] = field(default_factory=list)  # listing, post, comment and app exports
    funds: list[Path] = field(default_factory=list)  # statement, bank-account, counterparty and USDT-price exports
    mappings: dict[Path, Mapping] = field(default_factory=dict)  # exports read through a given column mapping


def split_inputs(paths: list[Path], mappings: Sequence[Mapping] = ()) -> Inputs:
    """Captures, flow logs, flow datasets and endpoint logs to scan, and the paths that give nothing to scan.

    A named file is an endpoint log when its content says so (``host.readers.detect_host_format``), else an
    export (CSV, Parquet, JSON lines) that one of ``mappings`` fits (its columns are all there) and goes to
    that mapping's table's dimension, else a flow log when its content says so (a CSV named like a capture
    is a capture; a CSV whose columns are named like a table's fields goes to that table's dimension), else
    a capture (whose reader reports what is wrong with it). Directories are walked for capture files (by
    name), flow logs of the formats in ``DIR_LOG_FORMATS``, endpoint logs (by content) and exports a given
    mapping fits. A path that is missing or cannot be read is one problem each; the others are still read."""
    split = Inputs()
    captures, logs, datasets, problems = split.captures, split.logs, split.datasets, split.problems
    for p in paths:
        if is_dataset(p):
            problem = name_problem(p)
            if problem is None:
                datasets.append(p)
            else:
                problems.append((p, problem))
        elif p.is_dir():
            found = 0
            files, skipped = _walk(p)
            problems.extend(skipped)
            for f in files:
                fmt = detect_format(f)
                if fmt in DIR_LOG_FORMATS:
                    logs.append(f)
                elif _capture_name(f):
                    captures.append(f)
                elif _host_format(f) is not None:
                    split.host_logs.append(f)
                elif not (mappings and _route_export(f, mappings, split, named=False)):
                    continue
                found += 1
            if not found:
                problems.append((p, Text(
                    zh=f"{path_text(p)}: 目录中没有抓包文件（.pcap/.pcapng/.cap，可 gzip 压缩）、流日志或终端日志",
                    en=f"{path_text(p)}: no capture files (.pcap/.pcapng/.cap, optionally gzipped), flow logs or "
                       "endpoint logs in this directory")))
        elif p.is_file():
            if (why := _unreadable(p)) is not None:
                problems.append((p, why))
                continue
            if not _capture_name(p) and _host_format(p) is not None:  # a capture's name: no endpoint log
                split.host_logs.append(p)
                continue
            if not _capture_name(p) and _route_export(p, mappings, split, named=True):
                continue
            fmt = detect_format(p)
            # a capture's name wins over a guess of CSV from text content
            is_capture = fmt in (None, "capture") or (fmt not in DIR_LOG_FORMATS and _capture_name(p))
            (captures if is_capture else logs).append(p)
        elif p.exists() or p.is_symlink():
            problems.append((p, _not_regular(p)))
        else:
            problems.append((p, Text(zh=f"{path_text(p)}: 文件不存在；请检查路径",
                                     en=f"{path_text(p)}: no such file; check the path")))
    return split


def _host_format(path: Path) -> str | None:
    """The endpoint-log format of a file (the host readers load only when a file is not named like a capture)."""
    from minescope.dimensions.host.readers.detect import detect_host_format

    return detect_host_format(path)


def _route_export(path: Path, mappings: Sequence[Mapping], split: Inputs, named: bool) -> bool:
    """Put a CSV, Parquet or JSON-lines export where its table's dimension is read: through the first given
    mapping that fits its columns or, for a named file, through columns named like a table's fields. False
    when neither applies (a flow log of another format, a capture, a file the network readers explain)."""
    kind = export_kind(path)
    if kind is None:
        return False
    names = source_names(path, kind)
    mapping = next((m for m in mappings if fits(m, names)), None)
    if mapping is None:
        if not named or (identity := identity_mapping(names)) is None or table_dimension(identity.table) == "network":
            return False  # a network export: the flow-log readers read (or report) it as before
        mapping = identity
    dimension = table_dimension(mapping.table)
    if dimension == "network":
        split.logs.append(path)
    elif dimension == "host":
        split.host_logs.append(path)
    elif dimension == "power":
        split.power.append(path)
    elif dimension == "content":
        split.content.append(path)
    elif dimension == "funds":
        split.funds.append(path)
    else:
        split.problems.append((path, Text(
            zh=f"{path_text(path)}: 映射的表 {mapping.table} 属于{dimension}维度，scan 尚不读取该维度",
            en=f"{path_text(path)}: the mapping's table {mapping.table} is of the {dimension} dimension, which scan "
               "does not read yet")))
        return True
    split.mappings[path] = mapping
    return True


def _walk(root: Path) -> tuple[list[Path], list[tuple[Path, Text]]]:
    """The regular files below ``root`` in name order (links to files followed, links to folders not), and
    one problem for each entry that was passed over: a folder or file that cannot be read, a pipe, a
    socket, a broken link. Nothing is skipped without a line."""
    files: list[Path] = []
    skipped: list[tuple[Path, Text]] = []

    def unreadable(e: OSError) -> None:
        where = Path(e.filename) if e.filename else root
        skipped.append((where, Text(zh=f"{path_text(where)}: 无法读取此目录（{e.strerror}），已跳过；请检查权限",
                                    en=f"{path_text(where)}: cannot read this folder ({e.strerror}); skipped; "
                                       "check its permissions")))

    for folder, subfolders, names in os.walk(root, onerror=unreadable):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file():
                if (why := _unreadable(path)) is None:
                    files.append(path)
                else:
                    skipped.append((path, why))
            elif not path.is_dir():
                skipped.append((path, _not_regular(path)))
    return sorted(files), skipped


def _not_regular(path: Path) -> Text:
    return Text(zh=f"{path_text(path)}: 不是普通文件（管道、套接字或断开的链接），已跳过",
                en=f"{path_text(path)}: not a regular file (a pipe, socket or broken link); skipped")


def _unreadable(path: Path) -> Text | None:
    """Why a regular file cannot be read (its permissions, an I/O error), or None when it can: tried
    by reading, since neither the mode bits (root) nor ``os.access`` (capabilities) tell for sure."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        reason = e.strerror or str(e)
        return Text(zh=f"{path_text(path)}: 无法读取此文件（{reason}），已跳过；请检查权限",
                    en=f"{path_text(path)}: cannot read this file ({reason}); skipped; check its permissions")
    return None


# The cyclic collector's first threshold while a capture is read: the payload readers and DNS make objects
# by the hundred thousand that live until the capture ends, and at the default (700) each young collection
# and the full ones the growing heap sets off cost a 1M-packet scan ~0.5 s of ~3 (docs/benchmarks.md).
CAPTURE_GC_THRESHOLD = 100_000


@contextmanager
def _rare_collections() -> Iterator[None]:
    """Collect cycles rarely, not never: memory stays bounded if something does make cycles."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], CAPTURE_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _capture_name(path: Path) -> bool:
    return path.name.lower().endswith(CAPTURE_SUFFIXES)


def _count_flows(summary: InputSummary, batch: pa.RecordBatch) -> None:
    """Connections, packets, bytes and time span of one ``flows`` batch (name rows not counted)."""
    counted = pc.is_valid(batch.column("src_packets"))
    summary.flows += pc.sum(counted).as_py() or 0
    for col in ("src_packets", "dst_packets"):
        summary.packets += pc.sum(batch.column(col)).as_py() or 0
    for col in ("src_bytes", "dst_bytes"):
        summary.bytes += pc.sum(batch.column(col)).as_py() or 0
    span = pc.min_max(batch.column("ts")).as_py()
    if span["min"] is not None:
        first, last = span["min"].timestamp(), span["max"].timestamp()
        summary.first_seen = first if summary.first_seen is None else min(summary.first_seen, first)
        summary.last_seen = last if summary.last_seen is None else max(summary.last_seen, last)


def _log_problem(report: InputReport) -> Text | None:
    """What went wrong reading a flow log, as one bilingual problem (None when nothing did)."""
    lines = report.summary()
    if not lines:
        return None
    return Text(zh="；".join(t.zh for t in lines), en="; ".join(t.en for t in lines))


def _skipped(zh_what: str, en_what: str, line: str) -> InputSummary:
    """A skipped line of a knowledge file, as a problem of that file (``file:line: detail``)."""
    path = line.split(":", 1)[0]
    return InputSummary(path=path, format="knowledge", problem=Text(
        zh=f"{zh_what}中有一行无法使用，已跳过：{line}", en=f"{en_what} line skipped: {line}"))


def _year(ts: float) -> int | None:
    """The capture's year, so a 2018 rig is not sized with 2024 ASICs; None for a nonsense timestamp."""
    try:
        return datetime.fromtimestamp(ts, tz=UTC).year
    except (ValueError, OverflowError, OSError):
        return None
