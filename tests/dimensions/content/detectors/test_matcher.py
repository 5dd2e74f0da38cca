"""The evasion-aware matcher: each evasion class found, the hard negatives never flagged, spans that point into the
original text, and the fast path never losing an item the exact path would flag."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minescope.dimensions.content.detectors import Item, item_findings, shown
from minescope.dimensions.content.detectors.matcher import Matcher, default_matcher, normalise, segmentations

DATA = Path(__file__).resolve().parents[3] / "data" / "content"


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t",
                                   quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return default_matcher()


def kinds(matcher: Matcher, title: str, body: str = "", category: str | None = None) -> list[str]:
    item = Item("1", "listing", title, body, category, None, None, None, None, None, 0)
    return [str(f.kind) for f in item_findings(item, matcher.match(item.fields), 0.0)]


def counted(matcher: Matcher, text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(m.text, m.term, m.evasions) for m in shown(matcher.match({"title": text}))]


@pytest.mark.parametrize(("text", "term", "evasion"), [
    ("全新礦機出售 比特币", "矿机", "traditional"),
    ("ＵＳＤＴ承兑 秒到", "USDT承兑", "fullwidth"),
    ("kuang ji 出售 可挖比特币", "矿机", "pinyin"),
    ("KuangJi 出售 可挖比特币", "矿机", "pinyin"),
    ("蚂蚁旷机 S19j Pro", "蚂蚁矿机", "homophone"),
    ("矿🔥机 批发 比特币", "矿机", "split"),
    ("B i n a n c e 注册", "Binance", "split"),
    ("kuang机出售", "矿机", "mixed"),
    ("wa矿教程 一键部署", "挖矿教程", "mixed"),
    ("bian 邀请码注册", "bian", "abbreviation"),
    ("🅱🅸🅽🅰🅽🅲🅴 返佣", "Binance", "fullwidth"),
])
def test_each_evasion_class_is_found_and_named(matcher: Matcher, text: str, term: str, evasion: str) -> None:
    found = counted(matcher, text)
    assert any(t == term and evasion in ev for _, t, ev in found), found


def test_the_promotion_lines_are_all_found_with_their_kind(matcher: Matcher) -> None:
    missed = [r["text"] for r in rows("promotion.tsv") if r["expect"] not in kinds(matcher, r["text"])]
    assert missed == []


def test_the_hard_negatives_are_never_flagged(matcher: Matcher) -> None:
    flagged = [(r["text"], kinds(matcher, r["text"])) for r in rows("hard_negatives.tsv")]
    assert [f for f in flagged if f[1]] == []


@pytest.mark.parametrize("text", ["方便安全", "改变", "fang bian an quan", "gai bian", "务必安装新版", "人民币，安全",
                                  "看看 ok 了吗", "look book"])
def test_pinyin_and_letters_are_never_matched_across_syllables_or_words(matcher: Matcher, text: str) -> None:
    assert counted(matcher, text) == []


def test_a_euphemism_counts_only_beside_a_brand_model_or_coin(matcher: Matcher) -> None:
    assert kinds(matcher, "算力服务器出租，大模型训练") == []
    assert kinds(matcher, "算力服务器 神马 M30S++ 现货") == ["prohibited_listing"]
    assert kinds(matcher, "算力服务器 可挖比特币") == ["prohibited_listing"]


def test_paofen_is_a_benchmark_beside_a_phone_and_laundering_beside_a_coin(matcher: Matcher) -> None:
    assert kinds(matcher, "安兔兔跑分 100 万，手机很流畅") == []
    assert kinds(matcher, "USDT 跑分，日结佣金") == ["trading_promotion"]


def test_a_mining_machine_under_another_category_is_misplaced(matcher: Matcher) -> None:
    item = Item("1", "listing", "蚂蚁矿机 S19", "", "服务器", "卖家", None, None, "某平台", "x.csv", 0)
    f = item_findings(item, matcher.match(item.fields), 0.0)[0]
    assert next(e for e in f.evidence if e.type == "content_item").detail["misplaced"] is True
    assert any("错放类目" in r.zh for r in f.reasons)
    right = Item("2", "listing", "蚂蚁矿机 S19", "", "矿机", "卖家", None, None, "某平台", "x.csv", 1)
    g = item_findings(right, matcher.match(right.fields), 0.0)[0]
    assert next(e for e in g.evidence if e.type == "content_item").detail["misplaced"] is False


def test_spans_point_into_the_original_text(matcher: Matcher) -> None:
    title = "【促销】全新 礦 機，ＵＳＤＴ 付款，收Ｕ"
    for m in shown(matcher.match({"title": title})):
        assert title[m.start:m.end] == m.text
    assert {m.term for m in shown(matcher.match({"title": title}))} >= {"矿机", "收U"}


def test_normalise_keeps_where_each_character_came_from() -> None:
    n = normalise("Ａ 幣·安")
    assert n.text == "a币安"
    assert n.origin == [0, 2, 4]
    assert n.sep[:3] == [False, True, True] and n.wide[0] and n.traditional[1]


def test_syllables_segment_with_the_fewest_syllables() -> None:
    assert segmentations("kuangji") == [("kuang", "ji")]
    assert segmentations("bian") == [("bian",)]
    assert segmentations("usdt") == []
    assert ("bi", "nan", "ce") in segmentations("binance")


PIECES = ["矿机", "币安", "礦機", "收U", " ", "，", "🔥", "S19", "蚂蚁", "方便", "安全", "bian", "ok", "USDT", "a",
          "跑分",
          "手机", "算力服务器", "比特币", "ｋｕａｎｇ", "ji", "-", "改变", "U盘"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=8).map("".join), min_size=1, max_size=6))
def test_the_fast_path_keeps_every_item_the_exact_path_flags(texts: list[str]) -> None:
    matcher = default_matcher()
    flagged = {i for i, t in enumerate(texts) if any(m.counted for m in matcher.match({"title": t}))}
    assert flagged <= set(matcher.candidates(texts))


def test_a_shop_is_named_with_its_platform_and_a_company_as_it_is(matcher: Matcher) -> None:
    def organisation(author: str) -> str | None:
        item = Item("1", "listing", "蚂蚁矿机", "", None, author, None, None, "某平台", "x.csv", 0)
        a = item_findings(item, matcher.match(item.fields), 0.0)[0].attribution
        return a.org_name if a is not None else None

    assert organisation("矿机小王") == "矿机小王（某平台）"
    assert organisation("某某数据科技有限公司") == "某某数据科技有限公司"
    assert organisation("91320102MA1XXXXX0X") == "91320102MA1XXXXX0X"
