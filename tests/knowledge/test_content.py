"""The content lexicon as data: every bundled line loads, rules are checked, a user's lexicon is added."""

from __future__ import annotations

from pathlib import Path

import pytest

from minescope.dimensions.content.detectors.matcher import Matcher
from minescope.knowledge.content import LexiconError, load_lexicon, read_lexicon, variant_stoplist

HEADER = "term\tcategory\tmeans\tlanguage\trule\tsource\n"


def test_the_bundled_lexicon_loads_with_models_and_every_category() -> None:
    terms = load_lexicon()
    categories = {t.category for t in terms}
    assert {"machine_brand", "machine_model", "euphemism", "exchange", "otc", "coin", "exclude"} <= categories
    models = {t.term for t in terms if t.category == "machine_model"}
    assert {"S19j Pro+", "M30S++", "M30S++ VE40", "阿瓦隆 1246"} <= models
    assert all(t.needs for t in terms if t.category in ("machine_model", "euphemism"))


def test_a_bad_rule_or_category_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.tsv"
    path.write_text(HEADER + "挖币\tmining_generic\tmining\tzh\tneeds:nothing\tmine\n", encoding="utf-8")
    with pytest.raises(LexiconError) as e:
        read_lexicon(path)
    assert e.value.where == "mine.tsv:2" and "nothing" in e.value.en
    path.write_text(HEADER + "挖币\tminingg\tmining\tzh\tdirect\tmine\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="unknown category"):
        read_lexicon(path)


def test_a_users_lexicon_adds_terms_to_the_matcher(tmp_path: Path) -> None:
    path = tmp_path / "mine.tsv"
    path.write_text(HEADER + "挖宝机\tmining_generic\tmining machine (local slang)\tzh\tdirect\tour reviewers\n",
                    encoding="utf-8")
    matcher = Matcher(load_lexicon([path]))
    assert [m.term for m in matcher.match({"title": "出售挖宝机"}) if m.counted] == ["挖宝机"]


def test_ordinary_words_are_never_generated_as_variants() -> None:
    stop = variant_stoplist()
    assert "货币" in stop
    assert "货币" not in Matcher().forms
