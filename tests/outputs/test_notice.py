"""The rectification notice (整改通知书): a PDF citing the case's findings and the legal basis."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, insert, select, update

from helpers import CORPUS, ROOT
from minescope.cases.workflow import assign, list_cases, sync_cases
from minescope.errors import InputError
from minescope.knowledge.legal import chinese_quotes, legal_documents
from minescope.model import ScanResult
from minescope.outputs.fmt import CST
from minescope.outputs.notice import (
    NOTICE_BASIS,
    Issuer,
    case_issuer,
    findings_digest,
    issuing_authority,
    notice_html,
    notice_pdf,
)
from minescope.pipeline import Scanner, ScanOptions
from minescope.store import accounts
from minescope.store.cases import case_findings, cases
from minescope.store.findings import findings, open_store, save_scan

REGISTRY = ROOT / "samples" / "org-registry.csv"
UNIVERSITY = "示例大学 计算机学院实验室"  # the sample registry's name for 192.168.2.0/24
ISSUER = "示例市发展和改革委员会"


@cache
def _scan() -> ScanResult:
    return Scanner(ScanOptions(registry=REGISTRY)).scan([CORPUS / "mining" / "ndpi_mining.pcapng"])


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = open_store(tmp_path / "m.db")
    save_scan(engine, _scan())
    sync_cases(engine)
    return engine


def _case(engine: Engine, title: str) -> Any:
    return next(c for c in list_cases(engine) if c.title == title)


def _findings(engine: Engine, case_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(select(findings.c.data).join(
            case_findings, case_findings.c.finding_id == findings.c.id).where(case_findings.c.case_id == case_id))]


def _beijing(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, 12, tzinfo=CST).timestamp()


def _text(pdf: bytes) -> str:
    """All pages' text without any white space (table cells and long numbers wrap)."""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def test_legal_basis_table_is_parsed() -> None:
    docs = legal_documents()
    assert len(docs) == 10
    numbers = {d.number for d in docs if d.number}
    assert set(NOTICE_BASIS) <= numbers and "银发〔2013〕289号" in numbers
    assert sum(d.number is None for d in docs) == 7  # "—" in the table
    assert chinese_quotes('关于整治虚拟货币"挖矿"活动的通知') == "关于整治虚拟货币“挖矿”活动的通知"


def test_notice_cites_findings_and_legal_basis(store: Engine) -> None:
    case = _case(store, UNIVERSITY)
    found = _findings(store, case.id)
    assert len(found) >= 2
    text = _text(notice_pdf(store, case.id, issuer=ISSUER, now=_beijing(2025, 3, 1)))
    assert "整改通知书" in text and f"整改〔2025〕{case.id}号" in text and "2025年3月1日" in text
    assert UNIVERSITY.replace(" ", "") + "：" in text
    for f in found:
        assert f["subject_ip"] in text and f["id"] in text
    for number in ("发改运行〔2021〕1283号", "银发〔2021〕237号"):
        assert number in text
    assert "《关于整治虚拟货币“挖矿”活动的通知》" in text
    assert "停止" in text and "清除" in text and "书面报告" in text
    assert ISSUER in text
    assert findings_digest(found) in text and f"案件编号{case.id}" in text
    assert "第1页共" in text


def test_deadline_is_the_due_date_when_assigned(store: Engine) -> None:
    case = _case(store, UNIVERSITY)
    issued = _beijing(2025, 3, 1)
    assert "2025年3月16日前完成整改" in re.sub(r"\s+", "", notice_html(store, case.id, now=issued))  # 15 days
    assign(store, case.id, "county-analyst", _beijing(2025, 4, 30), "city-admin")
    assert "2025年4月30日前完成整改" in _text(notice_pdf(store, case.id, issuer=ISSUER, now=issued))


def test_case_without_organisation_is_addressed_by_host(store: Engine) -> None:
    case = _case(store, "147.229.13.222")
    text = _text(notice_pdf(store, case.id, issuer=ISSUER))
    assert "IP地址147.229.13.222的使用单位：" in text


def test_fonts_are_embedded_cjk(store: Engine) -> None:
    reader = PdfReader(io.BytesIO(notice_pdf(store, _case(store, UNIVERSITY).id, issuer=ISSUER)))
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            assert "CJK" in str(font["/BaseFont"]) and "Noto" in str(font["/BaseFont"]), font["/BaseFont"]
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            assert {"/FontFile2", "/FontFile3"} & set(descriptor)  # embedded, not just named


def test_unknown_case_is_an_input_error(store: Engine) -> None:
    with pytest.raises(InputError) as err:
        notice_pdf(store, 9999, issuer=ISSUER)
    assert "9999" in err.value.text.zh and "9999" in err.value.text.en


def test_html_in_data_is_escaped(store: Engine) -> None:
    case = _case(store, UNIVERSITY)
    first = _findings(store, case.id)[0]
    evil = "<script>alert(1)</script>"
    data = {**first, "peer": {**first["peer"], "host": evil}}
    with store.begin() as conn:
        conn.execute(update(findings).where(findings.c.id == first["id"]).values(data=data))
        conn.execute(update(cases).where(cases.c.id == case.id).values(org_name="示例<b>单位</b>"))
    html = notice_html(store, case.id, issuer="<i>局</i>")
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;" in html and "示例&lt;b&gt;单位&lt;/b&gt;" in html
    text = _text(notice_pdf(store, case.id, issuer="<i>局</i>"))
    assert evil in text and "示例<b>单位</b>：" in text and "<i>局</i>" in text


def test_cli_writes_the_notice_and_can_issue_it(store: Engine, tmp_path: Path) -> None:
    case = _case(store, UNIVERSITY)
    assign(store, case.id, "county-analyst", time.time() + 86400, "city-admin")
    db = str(store.url.database)
    out = tmp_path / "notice.pdf"
    env = {**os.environ, "MINESCOPE_LANG": "en"}
    cmd = [sys.executable, "-m", "minescope", "cases", "notice", str(case.id), "-o", str(out), "--db", db,
           "--issuer", ISSUER, "--issue", "--actor", "county-analyst"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes().startswith(b"%PDF") and "整改通知书" in _text(out.read_bytes())
    assert _case(store, UNIVERSITY).state == "notice_issued"
    bad = subprocess.run([*cmd[:5], "9999", *cmd[6:10]], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: no case 9999"


def test_a_finding_with_a_time_no_calendar_holds_still_gives_a_notice(store: Engine) -> None:
    """Stored from a corrupt input before readers checked times: the notice says "–" for it, not a crash."""
    case = _case(store, UNIVERSITY)
    finding = _findings(store, case.id)[0]
    with store.begin() as conn:
        conn.execute(update(findings).where(findings.c.id == finding["id"]).values(
            first_seen=1e300, data={**finding, "first_seen": 1e300, "last_seen": 1e300}))
    html = notice_html(store, case.id, issuer=ISSUER)
    assert "–" in html
    assert notice_pdf(store, case.id, issuer=ISSUER)[:4] == b"%PDF"


# --- the issuing authority of the case's area, and the seal block ---------------------------------------


def _squeezed(html: str) -> str:
    return re.sub(r"\s+", "", html)


def test_the_authority_is_the_countys_else_the_citys_else_the_provinces(store: Engine) -> None:
    case = _case(store, UNIVERSITY)  # in 320102 南京市玄武区
    issued = _beijing(2025, 3, 1)
    accounts.set_authority(store, "320000", "江苏省发展和改革委员会", "admin", "苏发改")
    assert issuing_authority(store, "320102") == Issuer("江苏省发展和改革委员会", "苏发改", "320102", "320000")
    html = _squeezed(notice_html(store, case.id, now=issued))
    assert f"苏发改〔2025〕{case.id}号" in html and "<p>江苏省发展和改革委员会</p>" in html
    accounts.set_authority(store, "320100", "南京市发展和改革委员会", "admin")  # no prefix: 整改
    html = _squeezed(notice_html(store, case.id, now=issued))
    assert f"整改〔2025〕{case.id}号" in html and "<p>南京市发展和改革委员会</p>" in html
    accounts.set_authority(store, "320102", "南京市玄武区发展和改革局", "admin", "玄发改")
    text = _text(notice_pdf(store, case.id, now=issued))
    assert f"玄发改〔2025〕{case.id}号" in text and "南京市玄武区发展和改革局（盖章）" in text
    assert "未配置" not in text
    accounts.remove_authority(store, "320102", "admin")
    assert issuing_authority(store, "320102").configured_for == "320100"
    assert case_issuer(store, case.id) == issuing_authority(store, "320102")
    assert issuing_authority(store, "320505").configured_for == "320000"  # Suzhou: only the province's
    assert not issuing_authority(store, "110108").configured  # Beijing: none
    # a name given by hand (--issuer) wins, with the authority's prefix unless one is given too
    html = _squeezed(notice_html(store, case.id, issuer=ISSUER, prefix="示发改", now=issued))
    assert f"示发改〔2025〕{case.id}号" in html and f"<p>{ISSUER}</p>" in html


def test_without_an_authority_the_notice_names_the_area_and_says_so(store: Engine) -> None:
    case = _case(store, UNIVERSITY)
    accounts.set_authority(store, "110000", "北京市发展和改革委员会", "admin", "京发改")  # another province's
    found = case_issuer(store, case.id)
    assert (found.name, found.prefix, found.configured) == ("江苏省南京市玄武区", "整改", False)
    text = _text(notice_pdf(store, case.id, issuer=found, now=_beijing(2025, 3, 1)))
    assert f"整改〔2025〕{case.id}号" in text
    assert "江苏省南京市玄武区（盖章）" in text
    assert "注：江苏省南京市玄武区尚未配置发文机关，落款暂以地区名称代替。" in text
    assert "未配置" not in _text(notice_pdf(store, case.id, issuer=ISSUER))  # a name given by hand: no note
    with store.begin() as conn:  # a case with no area: the caller's area, else a line to sign on
        conn.execute(update(cases).where(cases.c.id == case.id).values(region_code=None))
    assert case_issuer(store, case.id, "320505").name == "江苏省苏州市虎丘区"
    html = _squeezed(notice_html(store, case.id))
    assert '<pclass="blank"></p>' in html and "注：本案件所属地区尚未配置发文机关，落款处留待签章。" in html


def test_cli_notice_takes_the_authority_of_the_area_and_issuer_overrides(store: Engine, tmp_path: Path) -> None:
    case = _case(store, UNIVERSITY)
    accounts.set_authority(store, "320102", "南京市玄武区发展和改革局", "admin", "玄发改")
    db = str(store.url.database)
    out = tmp_path / "notice.pdf"
    env = {**os.environ, "MINESCOPE_LANG": "en"}
    cmd = [sys.executable, "-m", "minescope", "cases", "notice", str(case.id), "-o", str(out), "--db", db]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    text = _text(out.read_bytes())
    assert "南京市玄武区发展和改革局（盖章）" in text and f"玄发改〔{datetime.now(CST).year}〕{case.id}号" in text
    p = subprocess.run([*cmd, "--issuer", ISSUER], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    text = _text(out.read_bytes())
    assert f"{ISSUER}（盖章）" in text and f"整改〔{datetime.now(CST).year}〕{case.id}号" in text
    accounts.remove_authority(store, "320102", "admin")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0 and "no issuing authority is configured for 江苏省南京市玄武区" in p.stderr
    assert "尚未配置发文机关" in _text(out.read_bytes())


def _grow(store: Engine, case_id: int, n: int) -> None:
    """Give the case ``n`` findings: copies of its own, under new ids."""
    with store.begin() as conn:
        have = [dict(r._mapping) for r in conn.execute(select(findings).join(
            case_findings, case_findings.c.finding_id == findings.c.id).where(case_findings.c.case_id == case_id)
            .order_by(findings.c.id))]
        own = [r for r in have if not r["id"].startswith("copy")]
        for i in range(len(have), n):
            row = dict(own[i % len(own)])
            row["id"] = f"copy{i:028d}"
            row["data"] = {**row["data"], "id": row["id"]}
            conn.execute(insert(findings).values(**row))
            conn.execute(insert(case_findings).values(case_id=case_id, finding_id=row["id"], added_at=time.time()))


def _page_texts(html: str) -> list[str]:
    """The text of each laid-out page's body (not its margin boxes: page number, evidence line), in order."""
    import weasyprint
    from weasyprint.formatting_structure import boxes

    document = weasyprint.HTML(string=html, url_fetcher=weasyprint.URLFetcher(allowed_protocols=())).render()
    out = []
    for page in document.pages:
        body = [b for b in page._page_box.children if not isinstance(b, boxes.MarginBox)]
        out.append("".join(d.text for b in body for d in b.descendants() if isinstance(d, boxes.TextBox)))
    return out


# 3, 14–16, 27–29 and from 31 findings (the summary table) are sizes whose text ends near a page's foot: there a
# closing block kept together by itself went over alone, 特此通知 and the seal on a page of their own.
@pytest.mark.parametrize("count", [3, 14, 15, 16, 27, 28, 29, 30, 31, 200, 219])
def test_the_seal_block_never_starts_a_page_alone(store: Engine, count: int) -> None:
    case = _case(store, UNIVERSITY)
    _grow(store, case.id, count)
    assert len(_findings(store, case.id)) == count
    pages = _page_texts(notice_html(store, case.id, issuer=ISSUER, now=_beijing(2025, 3, 1)))
    sealed = [p for p in pages if "（盖章）" in p]
    assert len(sealed) == 1
    page = sealed[0]
    block = page.index("逾期未整改")  # the closing block: the last paragraph, 特此通知, issuer, seal, date
    assert page.index(ISSUER) > page.index("特此通知") > block
    assert page[:block].strip(), f"the seal block is alone on page {pages.index(page) + 1} of {len(pages)}"
    assert "整改完成后，将整改情况书面报告我单位" in page[:block]  # the last demand stays with it


def test_a_case_of_exchange_access_alone_is_noticed_as_trading_not_mining(tmp_path: Path) -> None:
    from helpers import exchange_capture

    registry = tmp_path / "registry.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n10.5.5.0/24,示例贸易有限公司,enterprise,320102,\n",
                        encoding="utf-8")
    engine = open_store(tmp_path / "m.db")
    save_scan(engine, Scanner(ScanOptions(registry=registry, feeds=[tmp_path])).scan(
        [exchange_capture(tmp_path / "x.pcap")]))
    sync_cases(engine)
    case = _case(engine, "示例贸易有限公司")
    assert {f["kind"] for f in _findings(engine, case.id)} == {"exchange_access"}
    html = re.sub(r"\s+", "", notice_html(engine, case.id, issuer=ISSUER, now=_beijing(2025, 3, 1)))
    assert "访问虚拟货币交易所（币安、欧易（OKEx）、火币（HTX））" in html and "涉嫌参与虚拟货币交易炒作活动" in html
    assert "挖矿" not in html and "发改运行〔2021〕1283号" not in html and "银发〔2021〕237号" in html
    assert "一、立即停止访问虚拟货币交易所" in html and "二、于" in html and "三、整改完成后" in html
