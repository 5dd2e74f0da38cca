"""Report outputs: the summary's answers, JSON against its schema, terminal, HTML, i18n."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import orjson
import pytest
from rich.console import Console

from helpers import ROOT
from minescope import registry
from minescope.dimensions.network.kinds import (
    CRYPTO_NODE,
    ENCRYPTED_MINING_SUSPECT,
    MINING_BEHAVIOUR_SUSPECT,
    MINING_SESSION,
    POOL_CONTACT,
)
from minescope.dimensions.tip.detectors.public_report import tip_finding
from minescope.model import (
    SCHEMA_VERSION,
    Attribution,
    Energy,
    Evidence,
    Finding,
    FlowRef,
    HashRate,
    InputSummary,
    MiningFacts,
    Peer,
    ScanResult,
    Severity,
    Subject,
    SubjectType,
    Text,
)
from minescope.outputs import fmt
from minescope.outputs.html import render_html
from minescope.outputs.i18n import LABELS, t
from minescope.outputs.jsonout import dumps, load_schema, to_json_document
from minescope.outputs.summary import summarize, totals_by_algorithm
from minescope.outputs.terminal import render_terminal

T0 = 1_634_000_000.0  # 2021-10-12 08:53:20 CST
HOSTILE = "<script>alert(1)</script>"


def flow(src: str, sport: int, dst: str, dport: int, start: float, dur: float, nbytes: int) -> FlowRef:
    return FlowRef(
        src,
        sport,
        dst,
        dport,
        "tcp",
        T0 + start,
        T0 + start + dur,
        nbytes // 200 + 1,
        nbytes,
        bytes_to_dst=nbytes // 3,
        bytes_to_src=nbytes - nbytes // 3,
    )


def session(
    ip: str,
    pool_ip: str,
    port: int,
    pool_host: str,
    coin: str,
    algorithm: str,
    hps: float,
    attribution: Attribution | None,
    *,
    start: float = 0.0,
    dur: float = 600.0,
    nbytes: int = 60_000,
    worker: str = "rig01",
    wallet: str | None = None,
    kwh: tuple[float, float, float] | None = None,
    protocol: str = "stratum",
) -> Finding:
    hr = HashRate(algorithm, hps, 0.1, "shares", shares=100)
    energy = Energy(algorithm, tuple(x / 24 for x in kwh), kwh, "test efficiency") if kwh else None  # type: ignore[arg-type]
    return Finding(
        kind=MINING_SESSION,
        subject_ip=ip,
        peer=Peer(pool_ip, port, pool_host, known_pool=True),
        flows=(flow(ip, 50000, pool_ip, port, start, dur, nbytes),),
        confidence=0.99,
        severity=Severity.HIGH,
        reasons=(
            Text(f"{ip} 以 {protocol} 协议向矿池提交份额", f"{ip} submits shares to a pool over {protocol}"),
        ),
        evidence=(Evidence("protocol", "mining.submit ×100", {"method": "mining.submit"}, protocol),),
        source="jiangsu.pcap",
        mining=MiningFacts(
            protocol=protocol,
            coin=coin,
            algorithm=algorithm,
            pool_host=pool_host,
            wallet=wallet,
            worker=worker,
            shares_submitted=100,
            shares_accepted=98,
            shares_rejected=2,
            login_seen=True,
            hashrate=hr,
        ),
        attribution=attribution,
        energy=energy,
    )


UNIVERSITY = Attribution(
    "202.119.32.10", "CN", "江苏省", "南京市", "CERNET", "示例大学", "university", "320100", source="cernet"
)
GOVERNMENT = Attribution(
    "58.218.200.7",
    "CN",
    "江苏省",
    "徐州市",
    "中国电信",
    "徐州市示例局",
    "government",
    "320300",
    source="registry",
)
DATACENTER = Attribution(
    "221.231.5.9", "CN", "江苏省", "苏州市", "中国电信", "示例云", "datacenter", "320500", source="ip2region"
)
RESIDENTIAL = Attribution(
    "117.89.1.2", "CN", "江苏省", "苏州市", "中国移动", None, "residential", "320500", source="ip2region"
)
ENTERPRISE = Attribution(
    "114.222.3.4",
    "CN",
    "江苏省",
    "南京市",
    "中国电信",
    "示例制造有限公司",
    "enterprise",
    "320100",
    source="registry",
)

XMR_WALLET = "4" + "8Adk3fUzdGcDtB2RZ3kPsKf1YkHoGjX7Lqm5w9N2ZpT" * 2


def build_result() -> ScanResult:
    findings = [
        session(
            "202.119.32.10",
            "47.91.1.1",
            3333,
            "btc.f2pool.com",
            "BTC",
            "SHA-256",
            14e12,
            UNIVERSITY,
            kwh=(9.6, 11.5, 16.8),
            wallet="bc1qexamplewalletaddress0000000000000000",
        ),
        session(
            "117.89.1.2",
            "47.91.1.1",
            3333,
            "btc.f2pool.com",
            "BTC",
            "SHA-256",
            20e12,
            RESIDENTIAL,
            start=100,
            kwh=(13.7, 16.4, 24.0),
        ),
        session(
            "58.218.200.7",
            "94.130.1.1",
            3333,
            "pool.supportxmr.com",
            "XMR",
            "RandomX",
            8_000.0,
            GOVERNMENT,
            worker=HOSTILE,
            wallet=XMR_WALLET,
            kwh=(1.9, 2.4, 3.6),
            protocol="cryptonote",
            nbytes=40_000,
        ),
        session(
            "221.231.5.9",
            "47.75.2.2",
            6688,
            "eth.f2pool.com",
            "ETH",
            "Ethash",
            500e6,
            DATACENTER,
            kwh=(26.4, 33.6, 43.2),
            protocol="ethproxy",
            start=50,
            nbytes=90_000,
        ),
        Finding(
            POOL_CONTACT,
            "61.155.7.7",
            Peer("3.3.3.3", 45700, "xmr.pool.minergate.com", True),
            (flow("61.155.7.7", 40000, "3.3.3.3", 45700, 200, 30, 5_000),),
            0.8,
            Severity.MEDIUM,
            (Text("解析并连接已知矿池域名", "resolved and contacted a known pool name"),),
            (Evidence("dns", "A xmr.pool.minergate.com → 3.3.3.3", {}, "nocoin-hosts.txt"),),
            "jiangsu.pcap",
        ),
        Finding(
            ENCRYPTED_MINING_SUSPECT,
            "114.222.3.4",
            Peer("5.5.5.5", 443, "gulf.moneroocean.stream", True),
            (flow("114.222.3.4", 41000, "5.5.5.5", 443, 300, 200, 20_000),),
            0.6,
            Severity.MEDIUM,
            (Text("TLS 连接已知矿池（SNI）", "TLS to a known pool (SNI)"),),
            (Evidence("tls_sni", "SNI gulf.moneroocean.stream", {}, "blocklistproject"),),
            "jiangsu.pcap",
            attribution=ENTERPRISE,
        ),
        Finding(
            CRYPTO_NODE,
            "180.101.1.1",
            Peer("8.8.4.4", 8333),
            (flow("180.101.1.1", 42000, "8.8.4.4", 8333, 10, 500, 300_000),),
            0.95,
            Severity.INFO,
            (Text("比特币节点协议魔数", "bitcoin node protocol magic"),),
            (Evidence("signature", "magic f9beb4d9 version", {}, "bitcoin"),),
            "jiangsu.pcap",
            node_protocol="bitcoin",
        ),
    ]
    inputs = [
        InputSummary("jiangsu.pcap", "pcap", 12_000, 9_000_000, 40, T0, T0 + 1000, "ab" * 32),
        InputSummary(
            "broken.pcapng",
            "pcapng",
            problem=Text(
                "broken.pcapng：第 3 个数据块被截断；已保留之前的报文，请重新导出捕获文件",
                "broken.pcapng: block 3 is truncated; packets before it were kept; export the capture again",
            ),
        ),
    ]
    return ScanResult(
        inputs, findings, started_at=T0 + 5000, wall_seconds=1.25, packets=12_000, bytes=9_000_000, flows=40
    )


@pytest.fixture(scope="module")
def result() -> ScanResult:
    return build_result()


# --- summary -----------------------------------------------------------------------------------


def test_summary_counts(result: ScanResult) -> None:
    s = summarize(result)
    assert s.mining_hosts == 4
    assert s.related_hosts == 6
    assert {k: c.findings for k, c in s.kinds.items()} == {
        "mining_session": 4,
        "pool_contact": 1,
        "encrypted_mining_suspect": 1,
        "crypto_node": 1,
        "mining_behaviour_suspect": 0,
        "exchange_access": 0,
    }
    assert s.pools.endpoints == 5  # the crypto node's peer is not a pool
    assert s.pools.names == 5
    assert [c.coin for c in s.coins] == ["BTC", "ETH", "XMR"]
    assert s.traffic.bytes == 60_000 + 60_000 + 40_000 + 90_000 + 5_000 + 20_000
    assert s.traffic.capture_seconds == 1000
    assert s.traffic.mbps_capture == pytest.approx(s.traffic.bytes * 8 / 1e6 / 1000)
    assert s.traffic.active_seconds == pytest.approx(700)  # 0..700 covered by the sessions
    assert s.institutional.mining_hosts == 2  # university, government
    assert s.institutional.mining_share == pytest.approx(0.5)
    assert s.institutional.related_hosts == 3  # + the enterprise
    assert s.institutional.related_share == pytest.approx(0.5)
    assert [(n.node_protocol, n.findings) for n in s.crypto_nodes] == [("bitcoin", 1)]
    regions = {(r.city, r.hosts, r.mining_hosts) for r in s.regions}
    assert regions == {("南京市", 2, 1), ("苏州市", 2, 2), ("徐州市", 1, 1), (None, 1, 0)}
    types = {r.org_type: r.hosts for r in s.org_types}
    assert types == {
        "university": 1,
        "government": 1,
        "datacenter": 1,
        "residential": 1,
        "enterprise": 1,
        "unknown": 1,
    }
    assert [p.path for p in s.problems] == ["broken.pcapng"]


def test_hash_rates_stay_per_algorithm(result: ScanResult) -> None:
    s = summarize(result)
    by = {a.algorithm: a for a in s.algorithms}
    assert set(by) == {"SHA-256", "RandomX", "Ethash/Etchash"}
    assert by["SHA-256"].hps == pytest.approx(34e12)
    assert by["SHA-256"].hosts == 2
    assert by["Ethash/Etchash"].hps == pytest.approx(500e6)
    assert by["RandomX"].hps == pytest.approx(8_000)
    # independent miners: uncertainties in quadrature
    assert by["SHA-256"].hps_low == pytest.approx(34e12 - 2 * math.hypot(1.4e12, 2e12))  # ±2σ ranges
    assert by["SHA-256"].kwh_per_day == pytest.approx([9.6 + 13.7, 11.5 + 16.4, 16.8 + 24.0])
    # No overall hash rate anywhere: "hps" only appears inside one algorithm's total.
    d = s.to_dict()
    assert not any("hps" in k or "hash" in k for k in d)
    assert all(set(a) >= {"algorithm", "unit", "hps"} for a in d["algorithms"])
    # Energy does add up across algorithms.
    assert s.energy_total is not None
    assert s.energy_total.kwh_per_day[1] == pytest.approx(11.5 + 16.4 + 2.4 + 33.6)


def test_one_miner_reconnecting_counts_once() -> None:
    def at(start: float) -> Finding:
        return session("10.0.0.1", "1.1.1.1", 3333, "p", "BTC", "sha256", 10e12, None, start=start, dur=100)

    sequential = totals_by_algorithm([at(0), at(200)])
    assert sequential[0].hps == pytest.approx(10e12)
    concurrent = totals_by_algorithm([at(0), replace(at(0), peer=Peer("2.2.2.2", 3333))])
    assert concurrent[0].hps == pytest.approx(20e12)
    # "SHA-256" and "sha256" are one algorithm
    mixed = totals_by_algorithm(
        [at(0), session("10.0.0.2", "1.1.1.1", 3333, "p", "BTC", "SHA-256", 1e12, None)]
    )
    assert len(mixed) == 1


def test_algorithm_names_group_by_family() -> None:
    rx = session("10.0.0.3", "1.1.1.1", 3333, "p", "XMR", "rx/0", 5_000.0, None, kwh=(1.0, 2.0, 3.0))
    rx2 = session("10.0.0.4", "1.1.1.1", 3333, "p", "XMR", "RandomX", 3_000.0, None)
    cn = session("10.0.0.5", "1.1.1.1", 3333, "p", "XMR", "cn/r", 700.0, None, kwh=(0.1, 0.2, 0.3))
    by = {a.algorithm: a for a in totals_by_algorithm([rx, rx2, cn])}
    assert by["RandomX"].hps == pytest.approx(8_000) and by["RandomX"].kwh_per_day == pytest.approx([1, 2, 3])
    assert by["cn/r"].hps == pytest.approx(700)  # CryptoNight is other work: never added to RandomX
    assert by["cn/r"].kwh_per_day == pytest.approx([0.1, 0.2, 0.3])


def test_empty_scan() -> None:
    s = summarize(ScanResult([], [], started_at=T0, wall_seconds=0.1))
    assert s.mining_hosts == 0 and s.algorithms == [] and s.energy_total is None
    assert s.institutional.mining_share is None
    html = render_html(ScanResult([], [], started_at=T0, wall_seconds=0.1), s)
    assert t("no_findings", "zh") in html


def _lead() -> Finding:
    return Finding(kind=MINING_BEHAVIOUR_SUSPECT, subject_ip="10.9.9.9", peer=Peer("198.51.100.77", 15555),
                   flows=(flow("10.9.9.9", 50000, "198.51.100.77", 15555, 0, 7200, 90_000),), confidence=0.41,
                   severity=Severity.LOW, reasons=(Text("长时低速会话", "long low-rate session"),),
                   evidence=(Evidence("behaviour", "score 0.7", {}, "behaviour"),), source="conn.log")


def _tip() -> Finding:
    return tip_finding("ABCDEFGHJKMN", "320102", "某科技园 3 号楼", "夜间机房风扇声持续，电费异常升高", T0)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_section_is_reported_in_terminal_and_html(lang: str) -> None:
    """Kinds are listed by the section their declaration names, so none is forgotten: a result with
    only behaviour leads, or only a finding about an organisation, is not "no activity"."""
    for finding, shown in ((_lead(), "198.51.100.77"), (_tip(), "某科技园 3 号楼")):
        res = ScanResult([], [finding], started_at=T0, wall_seconds=0.1)
        html = render_html(res, summarize(res), lang, generated_at=T0)
        out = _terminal(res, lang)
        assert t("no_findings", lang) not in html and t("no_findings", lang) not in out
        assert shown in html and shown in out
        assert registry.kinds()[finding.kind].label.get(lang) in html
        doc = orjson.loads(dumps(res, summarize(res)))
        jsonschema.Draft202012Validator(load_schema()).validate(doc)
        assert doc["findings"][0]["subject"]["value"] == (finding.subject.value)


def test_reports_show_behaviour_leads() -> None:
    """Leads are listed in the terminal report, drawn in the HTML timeline, counted apart from mining."""
    base = build_result()
    leads = [replace(_lead(), peer=Peer(f"198.51.100.{i}", 15555)) for i in range(4)]
    result = replace(base, findings=[*base.findings, *leads])
    summary = summarize(result)
    assert summary.kinds["mining_behaviour_suspect"].findings == 4
    assert summary.related_hosts == summarize(base).related_hosts  # not mining-related
    out = _terminal(result, "en")
    assert "Mining behaviour suspect (lead)" in out and "198.51.100.3:15555" in out
    assert "疑似挖矿行为" in render_html(result, summary, "zh")


def test_finding_about_a_subject_has_its_own_identity_and_times() -> None:
    tip = _tip()
    assert tip.id == "tip-abcdefghjkmn" and tip.subject.type == "organisation" and tip.subject_ip is None
    assert (tip.first_seen, tip.last_seen) == (T0, T0) and tip.flows == () and tip.peer is None
    lead = _lead()
    assert lead.subject == Subject(SubjectType.IP, "10.9.9.9")
    assert (lead.first_seen, lead.last_seen) == (T0, T0 + 7200)  # from its flows when not given
    wider = replace(lead, first_seen=T0 - 3600, last_seen=T0 + 86_400)  # the whole group, not the sample
    assert (wider.first_seen, wider.last_seen) == (T0 - 3600, T0 + 86_400) and wider.id == lead.id
    with pytest.raises(ValueError):
        Finding(kind="x", subject_ip=None, peer=None, flows=(), confidence=0.1, severity=Severity.LOW,
                reasons=(), evidence=(), source="")


# --- JSON --------------------------------------------------------------------------------------


def test_json_document_validates(result: ScanResult) -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = orjson.loads(dumps(result, summarize(result), generated_at=T0 + 6000))
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["schema"] == "minescope.scan"
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["generated_at"] == "2021-10-12T02:33:20Z"
    assert doc["problems"] == [{"zh": result.inputs[1].problem.zh, "en": result.inputs[1].problem.en}]  # type: ignore[union-attr]
    assert len(doc["findings"]) == 7
    for f in doc["findings"]:
        assert f["kind"] in registry.kinds()
        for fl in f["flows"]:
            assert {"src_ip", "src_port", "dst_ip", "dst_port", "proto"} <= set(fl)
    # A wrong document is rejected (the schema is not vacuous).
    doc["findings"][0]["flows"][0].pop("dst_port")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(doc)


def test_json_document_is_plain_data(result: ScanResult) -> None:
    s = summarize(result)
    doc = to_json_document(result, s, generated_at=T0)
    # dumps must write exactly the document to_json_document gives, in the same order
    assert dumps(result, s, generated_at=T0) == orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    assert dumps(result, summarize(result)).startswith(b'{\n  "schema"')


# --- terminal ----------------------------------------------------------------------------------


def _terminal(result: ScanResult, lang: str) -> str:
    console = Console(record=True, width=100, color_system=None, force_terminal=False)
    render_terminal(result, summarize(result), lang, console)
    return console.export_text()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_terminal_headline(result: ScanResult, lang: str) -> None:
    out = _terminal(result, lang)
    for key in (
        "h.mining_hosts",
        "traffic_to_pools",
        "h.hashrate",
        "h.energy",
        "h.institutional",
        "problems",
    ):
        assert t(key, lang) in out, key
    for number in ("34.0 TH/s", "500 MH/s", "8.00 kH/s", "50.0%", "275 kB", "btc.f2pool.com:3333"):
        assert number in out, number
    assert "<scrip…pt>" in out  # shortened, printed as itself
    assert t("kind.crypto_node", lang) in out
    from rich.cells import cell_len

    assert max(cell_len(line) for line in out.splitlines()) <= 100


# --- HTML --------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_report(result: ScanResult, lang: str) -> None:
    html = render_html(result, summarize(result), lang, generated_at=T0)
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in html
    assert html.count("<svg") >= 7  # 3 hash-rate charts, energy, kinds, org types, regions (+ timeline)
    assert t("chart_timeline", lang) in html
    assert t("title", lang) in html and t("reasons", lang) in html
    other = "en" if lang == "zh" else "zh"
    assert t("title", other) not in html
    assert "Noto Sans CJK SC" in html and "WenQuanYi Micro Hei" in html
    # nothing external: no scripts, links, imports or remote URLs (the SVG namespace is not a request)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"<link|@import|url\(|src=", html)
    assert set(re.findall(r"https?://[^\s\"'<]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert "徐州市示例局" in html  # organisation names appear as attributed
    assert ("解析并连接已知矿池域名" if lang == "zh" else "resolved and contacted a known pool name") in html


def test_html_to_file(result: ScanResult, tmp_path: Path) -> None:
    from minescope.outputs.html import write_html

    out = tmp_path / "report.html"
    write_html(out, result, summarize(result))
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# --- i18n and formatting -------------------------------------------------------------------------


def test_every_label_has_both_languages() -> None:
    for key, pair in LABELS.items():
        assert len(pair) == 2, key
        zh, en = pair
        assert zh.strip() and en.strip(), key


def test_every_label_used_exists() -> None:
    src = ROOT / "src" / "minescope" / "outputs"
    used: set[str] = set()
    for path in [*src.glob("*.py"), *src.glob("templates/*.j2")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", path.read_text(encoding="utf-8")))
    assert used, "no labels found"
    assert used <= set(LABELS), used - set(LABELS)


def test_units() -> None:
    assert fmt.hashrate(14e12, "SHA-256") == "14.0 TH/s"
    assert fmt.hashrate(10.2e15, "SHA-256") == "10.2 PH/s"
    assert fmt.hashrate(42_000, "Equihash") == "42.0 kSol/s"
    assert fmt.hashrate(950, "RandomX") == "950 H/s"
    assert fmt.nbytes(136_770_000) == "137 MB"
    assert fmt.short(XMR_WALLET, 6, 4) == XMR_WALLET[:6] + "…" + XMR_WALLET[-4:]


def test_capture_text_is_never_markup() -> None:
    from minescope.outputs.charts import Bar, bar_chart

    svg = str(bar_chart([Bar(HOSTILE, 1.0, '"><b>')]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&quot;&gt;&lt;b&gt;" in svg
    # rich markup in a worker name prints as itself in the terminal
    f = session("10.0.0.9", "1.1.1.1", 3333, "[red]pool", "BTC", "SHA-256", 1e12, None, worker="[red]boom")
    console = Console(record=True, width=100, color_system=None)
    r = ScanResult([], [f], started_at=T0, wall_seconds=0.1)
    render_terminal(r, summarize(r), "en", console)
    out = console.export_text()
    assert "[red]boom" in out and "[red]pool:3333" in out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_exchanges_reached_are_summarised_by_organisation_and_never_counted_as_mining(lang: str,
                                                                                      tmp_path: Path) -> None:
    from helpers import exchange_capture
    from minescope.pipeline import Scanner, ScanOptions

    result = Scanner(ScanOptions(feeds=[tmp_path])).scan([exchange_capture(tmp_path / "x.pcap")])
    summary = summarize(result)
    assert summary.related_hosts == 0 and summary.mining_hosts == 0 and summary.pools.rows == []
    rows = {r.exchange: r for r in summary.exchanges}
    assert set(rows) == {"binance", "okx", "huobi"}
    assert (rows["binance"].hosts, rows["binance"].app_hosts, rows["binance"].sessions) == (1, 1, 3)
    assert rows["okx"].app_hosts == 0 and rows["huobi"].sessions == 0
    name = "Binance" if lang == "en" else "币安"
    out = _terminal(result, lang)
    assert t("exchanges_reached", lang) in out and name in out
    html = render_html(result, summary, lang)
    assert t("exchanges_reached", lang) in html and name in html and "api.binance.com" in html
    assert registry.kinds()["exchange_access"].label.get(lang) in html
    doc = orjson.loads(dumps(result, summary))
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    assert {r["exchange"] for r in doc["summary"]["exchanges"]} == set(rows)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_trading_findings_about_accounts_are_listed_with_their_subject(lang: str) -> None:
    from minescope.dimensions.funds.kinds import MONEY_MULE
    from minescope.model import Dimension

    mule = Finding(kind=MONEY_MULE, subject_ip=None, peer=None, flows=(), confidence=0.8, severity=Severity.HIGH,
                   reasons=(Text(zh="大量一次性小额付款人", en="many one-off small payers"),), evidence=(),
                   source="statement.csv", subject=Subject(SubjectType.ACCOUNT, "6222000011112222"),
                   dimension=Dimension.FUNDS, first_seen=T0, last_seen=T0 + 60, key="mule")
    res = ScanResult([], [mule], started_at=T0, wall_seconds=0.1)
    out, html = _terminal(res, lang), render_html(res, summarize(res), lang, generated_at=T0)
    for text in (out, html):
        assert "6222000011112222" in text and mule.reasons[0].get(lang) in text
        assert registry.kinds()[MONEY_MULE].label.get(lang) in text
    assert ":0" not in html.split("6222000011112222", 1)[1][:200]  # no empty endpoint shown for an account
