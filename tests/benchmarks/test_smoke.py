"""The benchmark scripts still work (parsing, scoring, capture preparation) — no timings here."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import pytest

from helpers import CORPUS, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import capture_speed
import console_load
import corpus_eval

SLICE = ["mining/zeekcm_bitcoin-mining-in-progress.pcap", "benign/ndpi_jsonrpc.pcap",
         "crypto-node/ndpi_monero_p2p.pcap"]

NDPI_OUTPUT = """
\t1\tTCP 192.168.2.148:46838 <-> 94.23.199.191:3333 [proto: 42/Mining][ClearText][cat: Mining/99][159 pkts]
\t2\tUDP 192.168.1.184:30303 -> 52.231.165.108:30303 [proto: 42.265/Mining.AmazonAWS][cat: Mining/99]
\t3\tTCP 10.0.2.15:50496 <-> 113.21.199.11:3333 [proto: 7/HTTP][ClearText][cat: Web/5][5 pkts/799 bytes]
\t4\tTCP [2001:db8::1]:443 <-> [2001:db8::2]:51000 [proto: 91/TLS][Encrypted][cat: Web/5]
\t5\tTCP 10.0.2.15:50506 <-> 113.21.199.11:3333 [proto: 42/Mining][ClearText][Confidence: DPI (cache)][3 pkts]
Detected protocols:
\tMining               packets: 673           bytes: 219078        flows: 4
"""


def test_ndpi_flow_lines_are_parsed() -> None:
    flows = corpus_eval.parse_ndpi_flows(NDPI_OUTPUT)
    assert len(flows) == 5
    assert [f.is_mining for f in flows] == [True, True, False, False, True]
    assert flows[0].a == ("192.168.2.148", 46838) and flows[0].b == ("94.23.199.191", 3333)
    assert flows[1].l4 == "UDP" and flows[1].proto == "Mining.AmazonAWS"
    assert flows[3].a == ("2001:db8::1", 443)
    assert flows[4].category == "" and flows[4].is_mining  # labelled by protocol alone


def test_scoring_counts_sessions_and_extra_flows() -> None:
    p = corpus_eval.pair
    truth = {p(("10.0.0.1", 5000), ("1.2.3.4", 3333)), p(("10.0.0.1", 5001), ("1.2.3.4", 3333))}
    labelled = [p(("1.2.3.4", 3333), ("10.0.0.1", 5000)),  # either direction is the same session
                p(("1.2.3.4", 3333), ("10.0.0.1", 5000)),  # a split flow still finds one session
                p(("10.0.0.9", 1), ("5.6.7.8", 8333))]
    s = corpus_eval.score(truth, labelled)
    assert (s.tp, s.fn, s.fp) == (1, 1, 1)
    assert s.fp_pairs == ["10.0.0.9:1 <-> 5.6.7.8:8333"]


def test_minescope_side_on_a_slice() -> None:
    report = corpus_eval.evaluate(CORPUS, with_ndpi=False, only=SLICE)
    rows = {r["file"]: r for r in report["files"]}
    assert rows[SLICE[0]]["minescope"]["tp"] == rows[SLICE[0]]["truth_sessions"] == 1
    assert report["totals"]["minescope"]["fp"] == 0
    assert report["totals"]["crypto_node_findings"] >= 1
    assert "corpus total" in corpus_eval.markdown(report)


@pytest.mark.skipif(shutil.which("ndpiReader") is None, reason="no ndpiReader (Debian libndpi-bin)")
def test_ndpi_side_on_a_slice() -> None:
    report = corpus_eval.evaluate(CORPUS, with_minescope=False, only=SLICE)
    for r in report["files"]:
        assert r["ndpi"]["flows"] > 0
        assert r["ndpi"]["tp"] + r["ndpi"]["fn"] == r["truth_sessions"]
    assert "ndpi_labels_on_crypto_node" in report["totals"]


def test_padding_is_stripped_before_tcprewrite(tmp_path: Path) -> None:
    src = CORPUS / "mining" / "zeekcm_bitcoin-mining.pcap"  # has padded 60-byte frames
    out = tmp_path / "stripped.pcap"
    changed = capture_speed.strip_ethernet_padding(src, out)
    assert changed > 0
    data = out.read_bytes()
    off, frames = 24, 0
    while off < len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        assert capture_speed._frame_len(frame) in (None, len(frame))
        off, frames = off + 16 + incl, frames + 1
    assert frames == 188


def test_speed_table_renders() -> None:
    run = {"median_wall_s": 2.0, "packets_per_s": 500_000, "peak_rss_mb": 100.0}
    res = {"machine": {"ndpi": "4.2.0", "minescope": "0.1.0"}, "ndpiReader": run,
           "minescope": {**run, "median_wall_s": 5.0}, "ratio_wall": 2.5, "ratio_rss": 1.0,
           "labels": {"ndpiReader": {"summary_mining_flows": 3}, "minescope": {"mining_session_flows": 2}}}
    table = capture_speed.markdown(res)
    assert "2.50×" in table and table.count("\n") == 4


def test_console_load_runs_tiny_with_no_errors(pg_url: str, tmp_path: Path) -> None:
    out = tmp_path / "console_load.json"
    result = console_load.main(["--pg", pg_url, "--findings", "2000", "--cases", "200", "--users", "4",
                                "--duration", "3", "--warmup", "1", "-o", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    (run,) = result["runs"]
    assert run["data"]["findings"] == 2000 and run["data"]["cases"] == 200 and len(run["users"]) == 4
    assert {u["level"] for u in run["users"]} == {"national", "province", "city", "county"}
    assert run["problems"] == [] and run["all"]["errors"] == 0 and run["all"]["count"] > 0
    for endpoint in console_load.ENDPOINTS:
        figures = run["endpoints"][endpoint]
        assert figures["errors"] == 0 and figures["count"] > 0
        assert {"p50_ms", "p95_ms", "p99_ms", "max_ms"} <= set(figures)
        assert {"p50_ms", "p95_ms", "count", "errors"} <= set(result["median"][endpoint])
    assert {"server_cores", "postgres_cores", "other_cores"} <= set(run["cpu"])
    assert "| cases_first_page |" in console_load.markdown(result)
