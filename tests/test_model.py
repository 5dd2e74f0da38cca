"""A finding's identity: everything that makes it distinct, and nothing that differs between copies."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

from helpers import CORPUS, POOL_NAMES, one_dns_flow_asking, write_pcap
from minescope.model import merge_same
from minescope.pipeline import Scanner, ScanOptions


def test_one_dns_flow_asking_several_pool_names_is_one_finding_per_name(tmp_path: Path) -> None:
    capture = write_pcap(tmp_path / "dns.pcap", [one_dns_flow_asking(POOL_NAMES)])
    result = Scanner(ScanOptions()).scan([capture])
    contacts = [f for f in result.findings if f.subject_ip == "10.20.30.40"]
    assert sorted(f.peer.host for f in contacts if f.peer) == sorted(POOL_NAMES)
    assert len({f.id for f in contacts}) == len(contacts) == 3


def test_the_same_packets_in_two_captures_are_one_finding_with_two_sources(tmp_path: Path) -> None:
    original = CORPUS / "mining" / "ndpi_mining.pcapng"
    copy = shutil.copy(original, tmp_path / "copy-of-mining.pcapng")
    alone = Scanner(ScanOptions()).scan([original])
    both = Scanner(ScanOptions()).scan([original, Path(copy)])
    assert {f.id for f in both.findings} == {f.id for f in alone.findings}
    assert len(both.findings) == len(alone.findings)
    assert all(f.sources == ("ndpi_mining.pcapng", "copy-of-mining.pcapng") for f in both.findings)


def test_ids_are_unique_in_a_scan_of_every_sample_with_copies(tmp_path: Path) -> None:
    copies = tmp_path / "copies"
    shutil.copytree(CORPUS / "mining", copies)
    result = Scanner(ScanOptions()).scan([CORPUS, copies])
    ids = Counter(f.id for f in result.findings)
    assert result.findings and max(ids.values()) == 1


def test_merge_same_keeps_the_first_and_names_the_other_inputs(tmp_path: Path) -> None:
    (finding, *_) = Scanner(ScanOptions()).scan([CORPUS / "mining" / "ndpi_mining.pcapng"]).findings
    again = [finding, replace(finding, source="b.pcap"), replace(finding, source="b.pcap"),
             replace(finding, source="c.pcap")]
    (merged,) = merge_same(again)
    assert merged.sources == (finding.source, "b.pcap", "c.pcap")
    assert merged.to_dict()["other_sources"] == ["b.pcap", "c.pcap"]
