"""The funds dimension's typologies as data (``data/funds/typologies.toml``): rules with their signal, feature,
bands and known false positives; typologies with weights and review/alert thresholds (Tazama's rule → band →
typology). ``load_typologies`` reads the bundled file or another of the same form; a bad file is one
``InputError`` line."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from minescope.errors import InputError
from minescope.knowledge import data_path
from minescope.model import Text


@dataclass(frozen=True)
class Rule:
    """One signal: ``feature`` banded by ``bands`` ((at least, strength), highest first), fired only when each
    feature of ``requires`` is at least its value and no feature of ``unless`` reaches its value."""

    id: str
    feature: str
    bands: tuple[tuple[float, float], ...]
    requires: tuple[tuple[str, float], ...]
    signal: Text
    false_positives: Text
    unless: tuple[tuple[str, float], ...] = ()

    def strength(self, features: dict[str, Any]) -> float:
        if any(_num(features.get(f)) < v for f, v in self.requires) or \
                any(_num(features.get(f)) >= v for f, v in self.unless):
            return 0.0
        x = _num(features.get(self.feature))
        return next((s for at_least, s in self.bands if x >= at_least), 0.0)

    def band(self, features: dict[str, Any]) -> str:
        strength = self.strength(features)
        at = next((a for a, s in self.bands if s == strength), None)
        return f">= {at:g}" if strength and at is not None else ""


@dataclass(frozen=True)
class Typology:
    id: str
    kind: str
    label: Text
    weights: tuple[tuple[str, float], ...]
    review: float
    alert: float


@dataclass(frozen=True)
class Typologies:
    parameters: dict[str, Any]
    rules: dict[str, Rule]
    typologies: dict[str, Typology]
    hush: tuple[str, ...]

    def param(self, name: str) -> Any:
        return self.parameters[name]


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def _text(v: Any, where: str) -> Text:
    if not isinstance(v, dict) or not isinstance(v.get("zh"), str) or not isinstance(v.get("en"), str):
        raise ValueError(f"{where} needs zh and en texts")
    return Text(v["zh"], v["en"])


REQUIRED_PARAMETERS = ("local_utc_offset_hours", "small_amount", "quick_hours", "night_start_hour", "night_end_hour",
                       "burst_days", "usdt_tolerance", "usdt_min", "cycle_max_length", "cycle_window_days",
                       "cycle_amount_band", "cycle_min_amount", "cycle_max_edges", "samples")


def parse(data: dict[str, Any]) -> Typologies:
    params = dict(data.get("parameters", {}))
    missing = [p for p in REQUIRED_PARAMETERS if p not in params]
    if missing:
        raise ValueError(f"[parameters] lacks {', '.join(missing)}")
    rules = {}
    for rid, r in data.get("rules", {}).items():
        bands = tuple((float(a), float(s)) for a, s in r["bands"])
        if not bands or any(not 0 < s <= 1 for _, s in bands) or list(bands) != sorted(bands, reverse=True):
            raise ValueError(f"rules.{rid}.bands must be [at least, strength] pairs, highest first, strength in (0, 1]")
        rules[rid] = Rule(rid, str(r["feature"]), bands,
                          tuple((str(k), float(v)) for k, v in dict(r.get("requires", {})).items()),
                          _text(r.get("signal"), f"rules.{rid}.signal"),
                          _text(r.get("false_positives"), f"rules.{rid}.false_positives"),
                          tuple((str(k), float(v)) for k, v in dict(r.get("unless", {})).items()))
    typologies = {}
    for tid, t in data.get("typologies", {}).items():
        weights = tuple((str(k), float(v)) for k, v in dict(t["weights"]).items())
        unknown = [k for k, _ in weights if k not in rules]
        if unknown:
            raise ValueError(f"typologies.{tid} weighs unknown rules: {', '.join(unknown)}")
        typologies[tid] = Typology(tid, str(t["kind"]), _text(t.get("label"), f"typologies.{tid}.label"), weights,
                                   float(t["review"]), float(t["alert"]))
    hush = tuple(str(x) for x in data.get("lexicon", {}).get("hush", ()))
    return Typologies(params, rules, typologies, hush)


def load_typologies(path: Path | str | None = None) -> Typologies:
    """The typologies of ``path`` (a TOML file of ``typologies.toml``'s form), else the bundled ones."""
    if path is None:
        return bundled()
    p = Path(path)
    try:
        return parse(tomllib.loads(p.read_text(encoding="utf-8")))
    except OSError as e:
        raise InputError(f"{p.name}: 无法读取类型规则文件（{e.strerror}）；请检查路径",
                         f"{p.name}: cannot read the typology file ({e.strerror}); check the path") from None
    except (tomllib.TOMLDecodeError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{p.name}: 类型规则文件无效（{e}）；请按 docs/funds.md 改正",
                         f"{p.name}: invalid typology file ({e}); correct it as docs/funds.md shows") from None


@cache
def bundled() -> Typologies:
    return parse(tomllib.loads(data_path("funds", "typologies.toml").read_text(encoding="utf-8")))
