"""Which trading service a name on an exchange list belongs to, and what kind of service it is.

    exchanges/services.csv        one row per service: its id, type, Chinese and English names, the
                                  domains that name it where the list does not (space-separated), source
    exchanges/channels.csv        words of a host name's labels that tell an exchange's app API, websocket
                                  and download hosts from its web site: word, channel

v2fly's ``category-cryptocurrency`` list tags most of an exchange's domains with the exchange
(``category-cryptocurrency/binance``); untagged domains and domains of services the list lacks are named in
``services.csv``. The list also holds wallets, block explorers, news sites and node providers: only the
types in ``TRADING`` make a name an exchange's (``exchange_access``); the others are neither exchanges nor
pools. A user feed of category ``exchange`` (``knowledge.pools``) names exchanges by its domains'
first labels (``binance.com`` → ``binance``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from minescope.knowledge import data_path
from minescope.knowledge.pools import ListInfo, ListMatch, LoadedList, normalise_domain
from minescope.knowledge.ranges import parse_network

TRADING = frozenset({"exchange", "dex", "otc", "exchanger"})  # the service types that are trading venues
GEOSITE = ("exchanges", "geosite-category-cryptocurrency.tsv")
GEOSITE_TAG = "category-cryptocurrency/"
CHANNELS = ("api", "websocket", "download", "web")  # a host's channel; "web" when no word says otherwise
OWN_LIST = ListInfo("minescope-exchanges", "exchange", "minescope knowledge/data/exchanges/services.csv",
                    "Apache-2.0")


@dataclass(frozen=True, slots=True)
class Exchange:
    """A trading service (``services.csv``)."""

    service: str  # id: binance, okx, …
    type: str  # exchange | dex | otc | exchanger (TRADING), or another kind of crypto service
    name_zh: str
    name_en: str

    @property
    def trading(self) -> bool:
        return self.type in TRADING


@cache
def services() -> dict[str, Exchange]:
    with data_path("exchanges", "services.csv").open(encoding="utf-8", newline="") as f:
        return {r["service"]: Exchange(r["service"], r["type"], r["name_zh"], r["name_en"]) for r in csv.DictReader(f)}


@cache
def _domain_services() -> dict[str, str]:
    """List domain → service: the geosite tags, then ``services.csv``'s own domains."""
    out: dict[str, str] = {}
    with data_path(*GEOSITE).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            tag = row.get("source_list") or ""
            if tag.startswith(GEOSITE_TAG):
                out[normalise_domain(row["value"])] = tag[len(GEOSITE_TAG):]
    with data_path("exchanges", "services.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for domain in row["domains"].split():
                out[normalise_domain(domain)] = row["service"]
    return out


def own_list() -> LoadedList:
    """The domains ``services.csv`` adds to the bundled exchange list (services the list lacks)."""
    loaded = LoadedList(OWN_LIST)
    with data_path(*GEOSITE).open(encoding="utf-8", newline="") as f:
        listed = {normalise_domain(r["value"]) for r in csv.DictReader(f, delimiter="\t")}
    with data_path("exchanges", "services.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            loaded.domains += [(d, False, "exchange") for d in map(normalise_domain, row["domains"].split())
                               if d not in listed]
    return loaded


def exchange_of(match: ListMatch) -> Exchange | None:
    """The trading service an exchange-list entry names; None for a crypto service that is no trading venue
    (a wallet, an explorer, news, a node provider: on the list, but neither an exchange nor a pool)."""
    service = _domain_services().get(match.entry)
    if service is None:
        if match.list_name in (OWN_LIST.name, "v2fly-geosite-cryptocurrency"):
            return None  # a bundled entry services.csv does not call a trading venue
        # a user feed's exchange: by its domain's first label, or for an address by the feed's name
        label = match.list_name if parse_network(match.entry) is not None else match.entry.split(".")[0]
        return Exchange(label, "exchange", label, label)
    found = services().get(service)
    return found if found is not None and found.trading else None


@cache
def _channel_words() -> dict[str, str]:
    with data_path("exchanges", "channels.csv").open(encoding="utf-8", newline="") as f:
        return {r["word"]: r["channel"] for r in csv.DictReader(f)}


def channel(name: str) -> str:
    """``api``, ``websocket``, ``download`` or ``web``: what a host name of an exchange serves, by the words of
    its labels (``fapi.binance.com`` → api, ``stream.binance.com`` → websocket, ``www.okx.com`` → web).
    A label matches a word whole, or with digits or a ``-``-separated part after it (``api2``, ``ws-api``)."""
    words = _channel_words()
    for label in normalise_domain(name).split(".")[:-1]:
        for part in (label, label.rstrip("0123456789"), *label.split("-")):
            if part in words:
                return words[part]
    return "web"
