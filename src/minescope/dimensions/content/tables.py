"""The evidence table of the content dimension (Apache Arrow): what a platform's export says about a listing,
a post, a comment or an app, one schema whatever the export (CSV, JSON lines or Parquet through a column mapping,
docs/mapping.md). Field by field:

``items`` — one row per listing, post, comment or app:
  id            string     the item's identifier on its platform (商品 ID, 帖子 ID); the URL when there is none
  kind          string     one of ``KINDS``: listing (a product offered), post, comment or app (an app's name and
                           description in a store); ``listing`` when the export does not say
  title         string     the listing's title, the post's subject, the app's name
  body          string     the description, the post's or comment's text
  category      string     the platform's category of the item as written (类目: 服务器, 电脑配件 …): a mining
                           machine offered under another category is misplaced
  author        string     the seller (listings, apps) or author (posts, comments) as the platform names them
                           (shop name, account or unified social credit code): the organisation of a finding
  url           string     where the item is
  ts            timestamp[us, UTC]  when it was listed or posted; null when not given
  platform      string     the platform or site (闲鱼, 1688, a forum's name); from the mapping's [constants] when
                           an export holds one platform
  source        string     the reader kind (``mapped``)
  input         string     the file the row came from
"""

from __future__ import annotations

import pyarrow as pa

from minescope.dimensions.network.tables import TS

ITEMS = pa.schema([
    ("id", pa.string()), ("kind", pa.string()), ("title", pa.string()), ("body", pa.string()),
    ("category", pa.string()), ("author", pa.string()), ("url", pa.string()), ("ts", TS),
    ("platform", pa.string()), ("source", pa.string()), ("input", pa.string()),
])

TABLES: dict[str, pa.Schema] = {"items": ITEMS}

KINDS = ("listing", "post", "comment", "app")
"""What an item is: a product listing, a post, a comment on one, an app in a store."""

SOURCES = ("mapped",)
