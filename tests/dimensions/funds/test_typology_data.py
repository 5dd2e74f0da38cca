"""The typologies as data: the bundled file loads, every weighed rule exists, and a bad file is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from minescope.errors import InputError
from minescope.knowledge.funds import bundled, load_typologies


def test_the_bundled_typologies_hold_what_the_issue_asks_for() -> None:
    t = bundled()
    assert {"money_mule", "otc_merchant"} == set(t.typologies)
    assert {"fast_in_out", "many_small_payers", "usdt_lots", "round_trip", "cycle", "night_burst", "remark_coin",
            "remark_hush", "dormant_active", "shared_device", "many_cards", "known_venue"} <= set(t.rules)
    for ty in t.typologies.values():
        assert 0 < ty.review < ty.alert <= sum(w for _, w in ty.weights)
    for rule in t.rules.values():
        assert rule.signal.zh and rule.signal.en and rule.false_positives.zh and rule.false_positives.en


def test_a_rule_is_banded_by_its_feature_and_guarded_by_its_requirements() -> None:
    rule = bundled().rules["many_small_payers"]
    assert rule.strength({"payers": 60, "small_in_share": 0.9, "one_time_payer_share": 0.9}) == 1.0
    assert rule.strength({"payers": 20, "small_in_share": 0.9, "one_time_payer_share": 0.9}) == 0.4
    assert rule.strength({"payers": 600, "small_in_share": 0.9, "one_time_payer_share": 0.1}) == 0.0  # regulars
    assert rule.strength({"payers": 10, "small_in_share": 0.9, "one_time_payer_share": 0.9}) == 0.0


def test_a_bad_typology_file_is_one_line_saying_where_and_how(tmp_path: Path) -> None:
    bad = tmp_path / "mine.toml"
    bad.write_text((Path(__file__).resolve().parents[3] / "src/minescope/knowledge/data/funds/typologies.toml")
                   .read_text(encoding="utf-8").replace(", cycle = ", ", cycel = "), encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_typologies(bad)
    assert e.value.message.startswith("mine.toml: invalid typology file") and "cycel" in e.value.message
    assert "\n" not in e.value.message
    with pytest.raises(InputError) as e:
        load_typologies(tmp_path / "none.toml")
    assert "cannot read" in e.value.message
