"""One scan: inputs → flows → findings → enrichment, as a ``ScanResult``.

Each capture gets its own flow table (flows do not continue across files, so a finding always
names the one capture it rests on); the pool knowledge learned from one capture carries into
the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from minescope.detect.network.capture import CaptureDetector, flows_from_table
from minescope.engine.flows import FlowTracker
from minescope.enrich.attribution import Attributor
from minescope.enrich.estimate import estimate_energy
from minescope.knowledge.pools import PoolIntel
from minescope.model import Finding, InputSummary, ScanResult, Text
from minescope.sources.capture import Block, CaptureFile, expand_inputs

# Pool sessions last hours; a flow ends only after this long without a packet (nfstream's default
# of 120 s would cut a miner's session at every quiet spell between shares).
DEFAULT_IDLE_TIMEOUT = 3600.0

Progress = Callable[[int], None]  # called with bytes read since the last call


@dataclass
class ScanOptions:
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    feeds: list[Path] = field(default_factory=list)
    registry: Path | None = None


class Scanner:
    """Holds what lasts across inputs of one scan: pool knowledge and attribution."""

    def __init__(self, options: ScanOptions | None = None) -> None:
        self.options = options or ScanOptions()
        self.intel = PoolIntel.load(self.options.feeds)
        self.attributor = Attributor(self.options.registry)
        self.hosts_seen: set[str] = set()  # addresses seen since the scan began
        # Bad lines in pool lists and the registry were skipped; the user still hears about each.
        self.knowledge_problems = (
            [_skipped("名单文件", "pool list", line) for line in self.intel.problems()]
            + [_skipped("单位登记表", "organisation registry", line) for line in self.attributor.problems]
        )

    def scan(self, paths: Iterable[Path], progress: Progress | None = None) -> ScanResult:
        started = time.time()
        t0 = time.perf_counter()
        self.hosts_seen.clear()
        files, unreadable = expand_inputs(list(paths))
        inputs = [InputSummary(path=str(p), format="", problem=why) for p, why in unreadable]
        findings: list[Finding] = []
        for path in files:
            summary, found = self.scan_capture(CaptureFile(path), path.name, progress)
            inputs.append(summary)
            findings.extend(found)
        return self.make_result(inputs, findings, started, time.perf_counter() - t0)

    def scan_blocks(self, name: str, fmt: str, blocks: Iterable[Block]) -> tuple[InputSummary, list[Finding]]:
        """Scan packets from any block source (a live interface, for one)."""
        tracker = FlowTracker(self.options.idle_timeout, self._interesting_name)
        for block in blocks:
            tracker.feed(block)
        summary = InputSummary(path=name, format=fmt)
        return summary, self._finish(tracker, summary, name)

    def scan_capture(self, capture: CaptureFile, name: str,
                     progress: Progress | None = None) -> tuple[InputSummary, list[Finding]]:
        tracker = FlowTracker(self.options.idle_timeout, self._interesting_name)
        seen = 0
        for block in capture.blocks():
            tracker.feed(block)
            if progress is not None:
                progress(capture.bytes_read - seen)
                seen = capture.bytes_read
        if progress is not None:
            progress(capture.bytes_read - seen)
        summary = InputSummary(path=str(capture.path), format=capture.format, sha256=capture.sha256,
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
        detector = CaptureDetector(self.intel, name)
        found = detector.run(flows_from_table(table), tracker.payload, tracker.pdns, tracker.dns_hits)
        return [self._enrich(f) for f in found]

    def _interesting_name(self, name: str) -> bool:
        return self.intel.match_mining_domain(name) is not None

    def _enrich(self, finding: Finding) -> Finding:
        """Who the subject is, and what its hash rate costs in power."""
        rate = finding.mining.sizing_hashrate if finding.mining is not None else None
        energy = estimate_energy(rate, as_of_year=_year(finding.first_seen)) if rate is not None else None
        return replace(finding, attribution=self.attributor.attribute(finding.subject_ip), energy=energy)

    def make_result(self, inputs: list[InputSummary], findings: list[Finding], started: float,
                    wall: float) -> ScanResult:
        return ScanResult(
            inputs=self.knowledge_problems + inputs,
            findings=sorted(findings, key=lambda f: (f.source, f.first_seen, f.kind)),
            started_at=started, wall_seconds=wall,
            packets=sum(i.packets for i in inputs), bytes=sum(i.bytes for i in inputs),
            flows=sum(i.flows for i in inputs), hosts_seen=frozenset(self.hosts_seen),
        )



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
