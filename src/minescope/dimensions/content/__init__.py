"""The content dimension (内容): listings, posts, comments and apps offering mining machines or crypto trading.

    readers/     a platform's export (CSV, Parquet, JSON lines) through a column mapping → the items table
    tables.py    the items table
    detectors/   the evasion-aware lexicon matcher (NFKC, OpenCC, pinyin, homophones, look-alikes, one
                 Aho-Corasick pass) and the rules that make findings of its matches
    kinds.py     prohibited_listing, trading_promotion
"""

from minescope.dimensions.content.kinds import KINDS, PROHIBITED_LISTING, TRADING_PROMOTION
from minescope.registry import Detector, Plugin, Reader, TableSpec

PLUGIN = Plugin(
    name="content", dimension="content", kinds=KINDS,
    doc="listings, posts, comments and app names (docs/content.md)",
    tables=(
        TableSpec("items", "content", "minescope.dimensions.content.tables:ITEMS", "one row per listing, post, "
                  "comment or app: title, body, category, seller or author, URL, time, platform",
                  ("id|url", "title|body")),
    ),
    readers=(
        Reader("content-export", "content", ("items",), "a platform's listings, posts, comments or apps as CSV, "
               "Parquet or JSON lines, through a column mapping (docs/mapping.md, docs/content.md)",
               "minescope.dimensions.content.readers:ContentInput"),
    ),
    detectors=(
        Detector("lexicon", "content", (PROHIBITED_LISTING, TRADING_PROMOTION), ("items",), "the lexicon's terms "
                 "however written (NFKC, traditional, pinyin syllable by syllable, homophones, look-alikes, "
                 "separators, abbreviations), one Aho-Corasick pass, context rules on the hits (docs/content.md)",
                 "minescope.dimensions.content.detectors:detect"),
    ),
)
