"""Readers of the content dimension: a platform's export of listings, posts, comments or apps → ``items``.

    export = ContentInput(path, mapping)   # CSV, Parquet or JSON lines through a column mapping
    for table, batch in export:            # table: "items"
        ...
    export.report                          # rows read, rows skipped, problems (zh/en)

Platforms have no standard export, so every file is read through a column mapping by the reader all dimensions
share (``minescope.readers.mapped``, docs/mapping.md); a file whose columns are already named like the table's
fields (``id``, ``title``, ``body`` …) needs none. The item's kind is taken as written when it is one of
``tables.KINDS`` (商品/帖子/评论/应用 too), else ``listing``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.content.tables import TABLES
from minescope.readers.mapped import MappedInput

KIND_NAMES = {"商品": "listing", "listing": "listing", "product": "listing", "item": "listing", "offer": "listing",
              "帖子": "post", "post": "post", "article": "post", "文章": "post", "评论": "comment",
              "comment": "comment", "reply": "comment", "回复": "comment", "应用": "app", "app": "app"}
"""How exports name an item's kind, and the kind ``items`` holds; a mapping's ``[values.kind]`` adds or overrides."""


class ContentInput(MappedInput):
    """One export of a platform's listings, posts, comments or apps: iterate for ("items", batch) pairs."""

    tables, what = TABLES, ("内容表", "content table")

    def finish(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        return known_kinds(batch)


def known_kinds(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Kinds as ``items`` holds them: a known name translated, anything else (or nothing) ``listing``."""
    i = batch.schema.get_field_index("kind")
    given = pc.utf8_lower(pc.utf8_trim_whitespace(batch.column(i)))
    names = pa.array(list(KIND_NAMES))
    kinds = pa.array(list(KIND_NAMES.values()))
    index = pc.index_in(given, value_set=names)
    fixed = pc.coalesce(pc.take(kinds, index), pa.scalar("listing"))
    return batch.set_column(i, "kind", fixed)


__all__ = ["KIND_NAMES", "ContentInput", "known_kinds"]
