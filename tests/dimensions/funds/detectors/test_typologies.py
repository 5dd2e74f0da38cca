"""The funds typologies on a small bank with one of each planted shape (``helpers.funds_bank``): the 跑分 card,
the OTC merchant and the cycle are found with their rules, bands and supporting transactions; the shop, the
employer, the landlord and the friends are not; DuckDB and Spark give the same findings."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from helpers import funds_tables
from minescope.dimensions.funds.detectors import account_scores, detect
from minescope.dimensions.funds.detectors.graph import match_remarks
from minescope.engines.sql import SparkEngine
from minescope.knowledge.funds import bundled
from minescope.model import Finding, Severity, SubjectType


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return funds_tables()


@pytest.fixture(scope="module")
def findings(tables: dict[str, pa.Table]) -> list[Finding]:
    return detect(tables)


def by(findings: list[Finding], kind: str) -> dict[str, Finding]:
    return {f.subject.value: f for f in findings if f.kind == kind}


def test_the_planted_accounts_and_only_they_are_found(findings: list[Finding]) -> None:
    assert sorted(by(findings, "money_mule_account")) == ["CYC1", "CYC2", "CYC3", "MULE1", "OTC1"]
    assert sorted(by(findings, "otc_merchant")) == ["OTC1"]
    flagged = {f.subject.value for f in findings}
    assert not flagged & {"SHOP1", "OWNER1", "EMPLOYER1", "LANDLORD1", "CONS1"}
    assert all(f.subject.type == SubjectType.ACCOUNT and f.dimension == "funds" for f in findings)


def rules_of(f: Finding) -> dict[str, dict[str, Any]]:
    return {r["rule"]: r for r in next(e for e in f.evidence if e.type == "typology").detail["rules"]}


def support(f: Finding, rule: str) -> dict[str, Any]:
    return next(e.detail for e in f.evidence if e.type == "transactions" and e.detail["rule"] == rule)


def test_the_mule_card_says_which_rules_fired_and_shows_their_transactions(findings: list[Finding]) -> None:
    f = by(findings, "money_mule_account")["MULE1"]
    assert f.severity == Severity.HIGH
    rules = rules_of(f)
    fired = {k for k, r in rules.items() if r["strength"]}
    assert {"many_small_payers", "fast_in_out", "consolidation", "remark_hush", "dormant_active"} <= fired
    assert "cycle" not in fired and "usdt_lots" not in fired
    payers = rules["many_small_payers"]
    assert payers["value"] == 60 and payers["band"] == ">= 60" and payers["contribution"] == payers["weight"]
    score = next(e for e in f.evidence if e.type == "typology").detail["score"]
    assert score == pytest.approx(sum(r["contribution"] for r in rules.values()), abs=0.01)
    small = support(f, "many_small_payers")
    assert small["count"] == 60 and len(small["sample"]) == bundled().param("samples")
    assert small["amount"] == pytest.approx(sum(498 + 100 * k + 0.5 for k in range(6)) * 10)
    assert small["sample"][0]["amount"] >= small["sample"][-1]["amount"]  # the largest first
    assert support(f, "remark_hush")["count"] == 10
    assert support(f, "consolidation")["sample"][0]["counterparty"] == "CONS1"
    assert f.reasons[0].zh.startswith("跑分") and "alert" in f.reasons[0].en
    assert any("many unrelated small payers" in r.en and "60 transactions" in r.en for r in f.reasons)
    assert any("大量互不相关的付款人" in r.zh for r in f.reasons)


def test_the_otc_merchant_shows_its_usdt_lots_and_its_exchange(tables: dict[str, pa.Table],
                                                              findings: list[Finding]) -> None:
    f = by(findings, "otc_merchant")["OTC1"]
    lots = support(f, "usdt_lots")
    # every line of the merchant is whole USDT; those within half a yuan of a round hundred are not odd lots
    amounts = [r["amount"] for r in tables["transactions"].to_pylist() if r["account"] == "OTC1"]
    assert lots["count"] == sum(1 for a in amounts if abs(a - round(a / 100) * 100) > 0.5) > 250
    assert all(float(s["usdt"]).is_integer() for s in lots["sample"])
    venue = support(f, "known_venue")
    assert venue["count"] == 30 and venue["sample"][0]["known"] == "exchange"
    assert venue["sample"][0]["service"] == "binance"
    assert support(f, "remark_coin")["count"] == 30


def test_a_cycle_is_named_hop_by_hop(findings: list[Finding]) -> None:
    f = by(findings, "money_mule_account")["CYC2"]
    cyc = support(f, "cycle")
    assert cyc["cycles"][0]["accounts"] == ["CYC1", "CYC2", "CYC3"]
    hops = cyc["cycles"][0]["hops"]
    assert [(h["from"], h["to"]) for h in hops] == [("CYC1", "CYC2"), ("CYC2", "CYC3"), ("CYC3", "CYC1")]
    assert hops[0]["ts"] < hops[1]["ts"] < hops[2]["ts"]
    assert f.severity == Severity.MEDIUM  # the cycle alone: review, not alert


def test_remarks_naming_coins_or_hushing_are_told_apart_from_ordinary_ones() -> None:
    hits = {h.remark: (h.coin, h.hush) for h in match_remarks(
        ["USDT", "买U", "币安充值", "勿 備 注", "饭钱", "工资", "房租", "游戏币"], bundled().hush)}
    assert hits == {"USDT": (1, 0), "买U": (1, 0), "币安充值": (1, 0), "勿 備 注": (0, 1)}


def test_a_rescan_gives_the_same_findings(tables: dict[str, pa.Table], findings: list[Finding]) -> None:
    again = detect(tables)
    assert [(f.kind, f.subject.value, f.key, f.confidence, f.evidence) for f in again] == \
        [(f.kind, f.subject.value, f.key, f.confidence, f.evidence) for f in findings]


def test_spark_gives_the_same_findings_and_scores(tables: dict[str, pa.Table], findings: list[Finding],
                                                  spark: Any) -> None:
    engine = SparkEngine(spark)
    try:
        on_spark = detect(tables, engine=engine)
    finally:
        engine.close()
    assert [(f.kind, f.subject.value, f.severity, f.confidence, f.reasons, f.evidence, f.first_seen, f.last_seen)
            for f in on_spark] == [(f.kind, f.subject.value, f.severity, f.confidence, f.reasons, f.evidence,
                                    f.first_seen, f.last_seen) for f in findings]
    engine = SparkEngine(spark)
    try:
        spark_scores = account_scores(tables, engine=engine)
    finally:
        engine.close()
    duck_scores = account_scores(tables)
    keys = [k for k in duck_scores[0] if k.startswith(("s_", "score_", "payers", "quick", "cycles"))]
    assert [[r["account"], *(round(float(r[k]), 9) for k in keys)] for r in spark_scores] == \
        [[r["account"], *(round(float(r[k]), 9) for k in keys)] for r in duck_scores]


def test_no_transactions_no_findings(tables: dict[str, pa.Table]) -> None:
    assert detect({"bank_accounts": tables["bank_accounts"]}) == []
