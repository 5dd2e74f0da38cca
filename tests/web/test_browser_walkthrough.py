"""A case from a scanned capture to closure, in a real browser (Playwright driving Debian's Chromium).

The test starts ``minescope serve`` itself on the store ``minescope scan`` filled (PostgreSQL when the
test server is configured, else SQLite), logs in, finds the case from the map, assigns it, issues the
rectification notice (a Chinese PDF), marks it rectified, scans a clean capture (the case becomes
verified) and closes it. With ``MINESCOPE_SCREENSHOTS=docs/screenshots`` it also refreshes the
screenshots of the main pages kept in the docs.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import (
    CORPUS,
    DATA,
    METER_ACCOUNTS,
    METER_READINGS,
    ORG,
    PG_URL,
    Conversation,
    households,
    write_funds_statement,
    write_host_check,
    write_long,
    write_pcap,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "walk-through password 1"
# the university network of the sample captures, placed in Xuanwu district, Nanjing (320102)
REGISTRY = ("cidr,organisation,type,region_code,contact\n"
            "192.168.2.0/24,示例大学 计算机学院实验室,university,320102,网络中心 noc@example.edu.cn\n")


def _cli(*args: str, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", "minescope", *args], input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _logged_in(playwright: Any, url: str) -> tuple[Any, Any]:
    """Chromium with a page logged in as the analyst: (browser, page)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page.goto(url + "/login")
    page.fill("input[name=username]", "analyst")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return browser, page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def console(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Path]]:
    """A store with one scanned capture and a national analyst, and the server on it: (url, db, registry)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("MINESCOPE_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is not installed (scripts/system-deps.sh installs it)")
        pytest.skip("Chromium is not installed")
    db = str(request.getfixturevalue("pg_url")) if PG_URL else str(tmp_path / "m.db")
    registry = tmp_path / "orgs.csv"
    registry.write_text(REGISTRY, encoding="utf-8")
    _cli("scan", str(CORPUS / "mining" / "ndpi_mining.pcapng"), "--registry", str(registry), "--db", db)
    _cli("users", "add", "analyst", "--role", "analyst", "--national", "--db", db, stdin=PASSWORD + "\n")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "minescope", "serve", "--db", db, "--port", str(port)],
                              env={**os.environ, "MINESCOPE_SECRET": "walk-through"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(url + "/login", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the console did not start")
        yield url, db, registry
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_walk_a_case_from_the_map_to_closure(console: tuple[str, str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright
    from pypdf import PdfReader

    url, db, registry = console
    shots = Path(os.environ.get("MINESCOPE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")

        page.goto(url + "/")
        expect(page).to_have_url(url + "/login")
        page.screenshot(path=str(shots / "login.png"))
        page.fill("input[name=username]", "analyst")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")

        # the map of China: down to Jiangsu, Nanjing, Xuanwu district, and the case there
        page.goto(url + "/dashboard")
        expect(page.locator("#map canvas").first).to_be_visible()
        page.wait_for_timeout(600)  # let ECharts finish its first animation before the screenshot
        page.screenshot(path=str(shots / "dashboard.png"))
        page.click('a[data-region="32"]')
        expect(page.locator("#area")).to_have_attribute("data-scope", "32")
        page.click('a[data-region="3201"]')
        expect(page.locator("#area")).to_have_attribute("data-scope", "3201")
        page.click('a[data-region="320102"]')
        expect(page.locator("#area")).to_have_attribute("data-scope", "320102")
        page.locator('#area-cases a[href^="/cases/"]').first.click()
        case_url = page.url
        expect(page.locator("h1")).to_contain_text("示例大学")
        expect(page.locator("#organisation")).to_contain_text("noc@example.edu.cn")  # the registry's contact

        # assign, then issue the notice: the PDF is kept on the case and reads in Chinese
        page.fill("form:has(input[value=assign]) input[name=owner]", "玄武区发改委 张三")
        page.click("form:has(input[value=assign]) button")
        expect(page.locator("#state")).to_have_attribute("data-state", "assigned")
        page.click("form:has(input[value=notice]) button")
        expect(page.locator("#state")).to_have_attribute("data-state", "notice_issued")
        link = page.locator("#attachments a", has_text="整改通知书").first
        pdf = page.request.get(url + str(link.get_attribute("href")))
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages).replace(" ", "")
        assert "整改通知书" in text and "示例大学" in text and "发改运行〔2021〕1283号" in text
        page.screenshot(path=str(shots / "case.png"), full_page=True)

        # the organisation rectifies; a later scan sees both hosts and no mining: verified
        page.click("form:has(input[value=rectifying]) button")
        expect(page.locator("#state")).to_have_attribute("data-state", "rectifying")
        web = [(0, 0.0, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), (1, 0.1, b"HTTP/1.1 200 OK\r\n\r\n")]
        clean = write_pcap(tmp_path / "clean.pcap", [Conversation("192.168.2.92", 41000, "198.51.100.7", 80, web),
                                                     Conversation("192.168.2.148", 41001, "198.51.100.7", 80, web)])
        _cli("scan", str(clean), "--registry", str(registry), "--db", db)
        page.goto(case_url)
        expect(page.locator("#state")).to_have_attribute("data-state", "verified")

        page.select_option("form:has(input[value=close]) select[name=reason]", "cleared")
        page.click("form:has(input[value=close]) button")
        expect(page.locator("#state")).to_have_attribute("data-state", "closed")
        expect(page.locator("#history")).to_contain_text("close")

        page.goto(url + "/cases")
        page.screenshot(path=str(shots / "cases.png"))
        browser.close()
    assert "intact" in _cli("cases", "verify", "--db", db, "--lang", "en")


def test_walk_a_tip_to_a_case_and_find_it_again(console: tuple[str, str, Path], tmp_path: Path) -> None:
    """A citizen's tip, found by a search on the tips page, opened as a case; the case found again by a search
    and a filter on the case list."""
    from playwright.sync_api import expect, sync_playwright
    from sqlalchemy import create_engine

    from minescope.store.tips import submit_tip

    url, db, _ = console
    store = create_engine(db if "://" in db else f"sqlite:///{db}")
    code = submit_tip(store, "320102", "玄武区 某网吧 后屋机房",
                      "夜里风扇声很大，整夜亮灯，门口堆着很多矿机包装箱。", contact="")
    store.dispose()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        page.goto(url + "/tips")
        expect(page).to_have_url(url + "/login?next=%2Ftips")  # login returns to the page asked for
        page.fill("input[name=username]", "analyst")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(url + "/tips")

        page.fill("#tip-filters input[name=q]", "网吧")
        page.click("#tip-filters button")
        rows = page.locator("tr[data-tip]")
        expect(rows).to_have_count(1)
        rows.first.locator("a").first.click()
        expect(page.locator("body")).to_contain_text("矿机包装箱")
        page.click("#open-case")
        expect(page.locator("#state")).to_have_attribute("data-state", "new")
        case_url = page.url
        case_id = case_url.rsplit("/", 1)[1]
        assert case_id.isdigit()

        # the tip now says which case it became, and the case is found by search and by filter
        page.goto(url + "/tips?q=网吧")
        expect(page.locator("tr[data-tip]").first).to_contain_text(f"{case_id}")
        page.goto(url + "/cases")
        page.fill("#case-filters input[name=q]", "网吧")
        page.select_option("#case-filters select[name=state]", "new")
        page.click("#case-filters button")
        expect(page.locator(f'tr[data-case="{case_id}"]')).to_have_count(1)
        expect(page.locator("tr[data-case]")).to_have_count(1)
        page.fill("#case-filters input[name=q]", "no such organisation anywhere")
        page.click("#case-filters button")
        expect(page.locator("tr[data-case]")).to_have_count(0)
        page.screenshot(path=str(tmp_path / "cases-search.png"))
        browser.close()
    assert code
    assert "intact" in _cli("cases", "verify", "--db", db, "--lang", "en")


def test_walk_from_the_network_finding_to_the_process_behind_it_and_a_cleaned_host(
        console: tuple[str, str, Path], tmp_path: Path) -> None:
    """The university's case holds the sessions its two hosts sent; a host check of one of them names the process
    (a renamed XMRig): the case page shows it, its finding page gives the command line, pool and wallet; after
    the notice and rectification, clean host checks of both machines verify the case, and /hosts says cleaned."""
    from playwright.sync_api import expect, sync_playwright

    url, db, registry = console
    wallet = "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"
    miner = {"pid": 4242, "ppid": 1, "user": "lab", "image": "/home/lab/.cache/kworkerd", "name": "kworkerd",
             "command_line": f"/home/lab/.cache/kworkerd -o pool.supportxmr.com:3333 -u {wallet} -t 4"}
    init = {"pid": 1, "ppid": 0, "user": "root", "image": "/sbin/init", "name": "init", "command_line": "/sbin/init"}
    now = time.time()
    _cli("scan", str(write_host_check(tmp_path / "pc92.json", "lab-pc-92", ["192.168.2.92"], [miner, init],
                                      now - 120)), "--registry", str(registry), "--db", db)
    with sync_playwright() as p:
        browser, page = _logged_in(p, url)

        page.goto(url + "/hosts")
        row = page.locator('tr[data-host="lab-pc-92"]')
        expect(row).to_have_attribute("data-cleaned", "no")
        expect(row).to_contain_text("示例大学")
        row.locator('a[href^="/cases/"]').click()
        case_url = page.url
        expect(page.locator("h1")).to_contain_text("示例大学")
        expect(page.locator("body")).to_contain_text("kworkerd")  # the process behind the traffic, on the case
        page.locator("a", has_text="挖矿进程").first.click()
        evidence = page.locator("#evidence")
        expect(evidence).to_contain_text("命令行中的挖矿参数")
        expect(evidence).to_contain_text("pool.supportxmr.com:3333")
        expect(evidence).to_contain_text(wallet)

        page.goto(case_url)
        page.fill("form:has(input[value=assign]) input[name=owner]", "网络中心 李四")
        page.click("form:has(input[value=assign]) button")
        page.click("form:has(input[value=notice]) button")
        expect(page.locator("#state")).to_have_attribute("data-state", "notice_issued")
        page.click("form:has(input[value=rectifying]) button")
        expect(page.locator("#state")).to_have_attribute("data-state", "rectifying")
        # the organisation cleans both machines; their host checks, collected in one folder, find nothing
        checks = tmp_path / "checks"
        checks.mkdir()
        for name, address in (("lab-pc-92", "192.168.2.92"), ("lab-pc-148", "192.168.2.148")):
            write_host_check(checks / f"{name}.json", name, [address], [init], now)
        _cli("scan", str(checks), "--registry", str(registry), "--db", db)
        page.goto(case_url)
        expect(page.locator("#state")).to_have_attribute("data-state", "verified")
        page.goto(url + "/hosts")
        expect(page.locator('tr[data-host="lab-pc-92"]')).to_have_attribute("data-cleaned", "yes")
        browser.close()
    assert "intact" in _cli("cases", "verify", "--db", db, "--lang", "en")


def test_walk_from_a_power_finding_and_its_load_curve_to_the_organisations_case(
        console: tuple[str, str, Path], tmp_path: Path) -> None:
    """The grid's export of the lab's meter (a real household's series with 3.25 kW added: one ASIC) and its
    account record: the finding page draws the daily load with the step marked and sizes it as machines; its case
    is the university's, which also holds the network findings of the capture: two dimensions agree."""
    import json

    from playwright.sync_api import expect, sync_playwright


    url, db, registry = console
    meter, rows = sorted(households().items())[0]
    since = (rows[0][0] + timedelta(days=150)).replace(hour=0, minute=0, second=0)
    readings = write_long(tmp_path / "实验楼电表.csv", {meter: rows}, {meter: 3.25}, since)
    accounts = tmp_path / "用电户档案.csv"
    accounts.write_text(f"户号,户名,用电类别,运行容量,行政区划,单位\n{meter},计算机学院实验楼,居民生活用电,8,320102,{ORG}\n",
                        encoding="utf-8")
    maps = []
    for name, spec in (("long.json", METER_READINGS), ("accounts.json", METER_ACCOUNTS)):
        (tmp_path / name).write_text(json.dumps(spec), encoding="utf-8")
        maps += ["--mapping", str(tmp_path / name)]
    _cli("scan", str(readings), str(accounts), *maps, "--registry", str(registry), "--db", db)
    with sync_playwright() as p:
        browser, page = _logged_in(p, url)

        page.goto(url + "/findings?kind=mining_load")
        page.locator("a", has_text="疑似挖矿用电").first.click()
        expect(page.locator("h1")).to_contain_text(meter)
        curve = page.locator("#load-curve")
        expect(curve.locator("canvas")).to_have_count(1)  # ECharts drew it
        assert int(curve.get_attribute("data-drawn") or 0) > 300
        expect(page.locator("#finding-load")).to_contain_text(since.date().isoformat()[:7])
        expect(page.locator('#finding-sizing tr[data-class="SHA-256 ASIC"]')).to_contain_text("–")
        expect(page.locator("#finding-attribution")).to_contain_text(ORG)
        shots = Path(os.environ.get("MINESCOPE_SCREENSHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "power-finding.png"), full_page=True)
        page.locator("#finding-cases a").first.click()
        expect(page.locator("h1")).to_contain_text(ORG)
        agreeing = page.locator("#agreeing")
        expect(agreeing).to_contain_text("电力")
        expect(agreeing).to_contain_text("网络")
        expect(agreeing).to_contain_text("多个维度的证据相互印证")
        expect(page.locator("#findings")).to_contain_text("挖矿会话")
        expect(page.locator("#findings")).to_contain_text("疑似挖矿用电")
        browser.close()


def test_walk_from_a_money_mule_finding_to_its_case_freeze_and_the_duanka_list(
        console: tuple[str, str, Path], tmp_path: Path) -> None:
    """A bank's statement export and account file (scanned with their mappings) make a 跑分 card's finding; from
    its page to its case, the analyst freezes the card with the order's number and puts it on the 断卡 list; the
    console's 断卡 export holds the card with the freeze recorded."""
    import json

    from openpyxl import load_workbook
    from playwright.sync_api import expect, sync_playwright

    url, db, _ = console
    statement = write_funds_statement(tmp_path / "交易流水.csv", bad_line=False)
    accounts = tmp_path / "开户信息.csv"
    accounts.write_text("卡号,客户号,账户类型,客户类型,开户网点\nMULE1,C9,借记卡,person,320505\n", encoding="utf-8")
    account_map = tmp_path / "accounts.json"
    account_map.write_text(json.dumps({"table": "bank_accounts", "columns": {
        "account": "卡号", "holder": "客户号", "account_type": "账户类型", "owner_type": "客户类型",
        "region": "开户网点"}}), encoding="utf-8")
    _cli("scan", str(statement), str(accounts), "--mapping", str(DATA / "funds" / "statement.toml"),
         "--mapping", str(account_map), "--db", db)
    with sync_playwright() as p:
        browser, page = _logged_in(p, url)
        page.goto(url + "/findings?kind=money_mule_account&q=MULE1")
        page.locator("a", has_text="疑似跑分账户").first.click()
        expect(page.locator("h1")).to_contain_text("MULE1")
        page.locator("#finding-cases a").first.click()
        row = page.locator('#accounts tr[data-account="MULE1"]')
        expect(row).to_have_count(1)
        freeze = row.locator('td[data-action="freeze"]')
        freeze.locator("input[name=text]").fill("苏公冻字〔2026〕17号")
        freeze.locator("button").click()
        expect(page.locator('#accounts tr[data-account="MULE1"] td[data-action="freeze"]')).to_contain_text("已冻结")
        page.locator('#accounts tr[data-account="MULE1"] td[data-action="duanka"] button').click()
        expect(page.locator('#accounts tr[data-account="MULE1"] td[data-action="duanka"]')).to_contain_text(
            "已列入断卡名单")
        with page.expect_download() as got:
            page.locator("#duanka-export").click()
        sheet = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes())).active
        rows = [[c.value for c in r] for r in sheet.iter_rows()]
        assert [r[0] for r in rows[1:]] == ["MULE1"] and rows[1][8] == "苏公冻字〔2026〕17号"
        browser.close()
