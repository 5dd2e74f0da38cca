"""A content finding's page: the item's text with the lexicon's matches, their spans carried to the page's script
(which marks them as text nodes, never HTML), and the finding's JSON with the same spans."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from helpers import PASSWORD, login
from minescope.dimensions.content.detectors import ContentDetector
from minescope.dimensions.content.tables import ITEMS
from minescope.model import ScanResult
from minescope.store.accounts import add_user
from minescope.store.findings import open_store, save_scan
from minescope.web.app import create_app

TITLE = "<b>全新</b> 礦機 蚂蚁S19 🔥 出售"


ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def console_with_a_listing(tmp_path: Path, title: str) -> tuple[TestClient, str]:
    items = pa.Table.from_pylist([{"id": "7", "kind": "listing", "title": title, "body": "请勿备注与矿机有关字眼",
                                   "category": "服务器", "author": "小王", "url": None, "ts": None,
                                   "platform": "某平台", "source": "mapped", "input": "x.csv"}], schema=ITEMS)
    detector = ContentDetector(now=1_700_000_000.0)
    detector.add(items)
    found = detector.findings()
    assert [str(f.kind) for f in found] == ["prohibited_listing"]
    target = str(tmp_path / "m.db")
    engine = open_store(target)
    save_scan(engine, ScanResult(inputs=[], findings=found, started_at=1_700_000_000.0, wall_seconds=1.0))
    add_user(engine, "nat", PASSWORD, "analyst", national=True)
    client = TestClient(create_app(target, secret="test"))
    login(client, "nat")
    return client, found[0].id


def test_the_finding_page_carries_the_text_and_its_highlight_spans(tmp_path: Path) -> None:
    client, fid = console_with_a_listing(tmp_path, TITLE)
    page = client.get(f"/findings/{fid}").text
    assert "内容原文（命中处高亮）" in page and "<b>全新</b>" not in page  # escaped, not markup
    data = json.loads(html.unescape(re.search(r'id="content-data">(.*?)</script>', page, re.S).group(1)))  # type: ignore[union-attr]
    assert data["fields"]["title"] == TITLE
    spans = {(m["field"], TITLE[m["start"]:m["end"]] if m["field"] == "title" else m["term"]) for m in data["matches"]}
    assert ("title", "礦機") in spans and ("body", "请勿备注") in spans
    api = client.get(f"/api/findings/{fid}").json()
    matches = [e["detail"] for e in api["evidence"] if e["type"] == "content_match"]
    assert any(m["evasions"] == ["traditional"] and m["normalised"] == "矿机" for m in matches)
    assert "The text, matches highlighted" in client.get(f"/findings/{fid}?lang=en").text


def test_the_page_script_marks_the_matches_as_text_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("MINESCOPE_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is not installed (scripts/system-deps.sh installs it)")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    title = "<b>全新</b> 🔥礦機 蚂蚁S19 出售"  # an emoji before the match: offsets count code points, not UTF-16 units
    client, fid = console_with_a_listing(tmp_path, title)
    page = client.get(f"/findings/{fid}").text
    script = (ROOT / "src" / "minescope" / "web" / "static" / "finding.js").read_text(encoding="utf-8")
    page = page.replace('<script src="/static/finding.js" defer></script>', "").replace(
        "</body>", f"<script>{script}</script></body>")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.set_content(page)
            marks = [m.text_content() for m in tab.query_selector_all("#content-item mark")]
            shown = tab.inner_text('#content-item [data-field="title"]')
            bold = tab.query_selector('#content-item [data-field="title"] b')
        finally:
            browser.close()
    assert marks == ["礦機", "蚂蚁", "S19", "请勿备注", "矿机"]
    assert shown == title and bold is None  # the text, never its markup
