"""The public report form (举报): an offline image CAPTCHA, one guess per image, and a place to choose first.

The tests solve the CAPTCHA as the server would check it: a challenge with a known answer, signed with the
console's secret (``ReportCaptcha(secret).new(answer=...)``); nothing in the console skips the check.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from minescope.store.findings import open_store
from minescope.store.tips import tips
from minescope.web import captcha
from minescope.web.app import create_app
from minescope.web.captcha import ReportCaptcha

SECRET = "test"
TIP = {"region_code": "320102", "subject": "某大厦地下室", "description": "整夜风扇轰鸣，耗电异常，疑似矿机",
       "contact": "13800000000"}
WRONG = ("验证码不正确或已过期", "the code was wrong or has expired")


Console = tuple[TestClient, Engine]


@pytest.fixture
def console(store_target: str) -> Console:
    return TestClient(create_app(store_target, secret=SECRET)), open_store(store_target)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _token(page: str) -> str:
    return re.search(r'name="captcha_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _solved(answer: str = "K7PQX", **kw: Any) -> dict[str, str]:
    challenge = ReportCaptcha(SECRET).new(answer=answer, **kw)
    return {"captcha_token": challenge.token, "captcha_answer": challenge.answer}


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tips)).scalar_one())


def _refused(page: Any, message: str) -> None:
    """The form again, with the message, the reader's inputs and a new image."""
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert f'id="report-error">{message}' in page.text
    assert 'id="tracking-code"' not in page.text
    assert 'value="某大厦地下室"' in page.text and ">整夜风扇轰鸣，耗电异常，疑似矿机</textarea>" in page.text
    assert 'value="13800000000"' in page.text
    assert 'src="data:image/png;base64,' in page.text and _token(page.text)


def test_the_form_shows_an_image_and_asks_for_a_place(console: Console) -> None:
    client, _ = console
    form = client.get("/report")
    assert form.status_code == 200 and form.headers["cache-control"] == "no-store"
    png = re.search(r'<img id="captcha-image" src="data:image/png;base64,([^"]+)" alt="([^"]+)"', form.text)
    assert png is not None and base64.b64decode(png.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert "验证码图片" in png.group(2)
    assert '<option value="" selected>请选择</option>' in form.text
    assert re.search(r'<select name="region_code" required>', form.text)
    assert len(re.findall(r"<option [^>]*selected", form.text)) == 1  # not the first province
    assert 'href="/report?lang=zh">看不清？换一张</a>' in form.text
    assert 'name="captcha_answer"' in form.text
    en = client.get("/report?lang=en").text
    assert '<option value="" selected>please choose</option>' in en and "New image</a>" in en
    assert _token(client.get("/report").text) != _token(form.text)  # a new challenge each time


def test_the_right_answer_stores_the_tip_in_any_case(console: Console) -> None:
    client, engine = console
    csrf = _csrf(client.get("/report").text)
    solved = _solved("K7PQX")
    page = client.post("/report", data={**TIP, "csrf": csrf, **solved, "captcha_answer": " k7pqx "})
    assert page.status_code == 200 and re.search(r'id="tracking-code">[A-Z0-9]+<', page.text)
    assert _count(engine) == 1
    assert 'value="某大厦地下室"' not in page.text  # a blank form for the next report


@pytest.mark.parametrize("case", ["wrong", "expired", "forged", "missing", "garbage"])
def test_a_wrong_answer_stores_nothing(console: Console, case: str) -> None:
    client, engine = console
    csrf = _csrf(client.get("/report").text)
    fields = {
        "wrong": {**_solved("K7PQX"), "captcha_answer": "K7PQY"},
        "expired": _solved("K7PQX", now=time.time() - captcha.TTL_S - 1),
        "forged": {"captcha_token": _solved("K7PQX")["captcha_token"][:-4] + "0000", "captcha_answer": "K7PQX"},
        "missing": {},
        "garbage": {"captcha_token": "a.b.c.d", "captcha_answer": "K7PQX"},
    }[case]
    page = client.post("/report", data={**TIP, "csrf": csrf, **fields})
    _refused(page, WRONG[0])
    assert _count(engine) == 0


def test_a_token_signed_with_another_key_is_refused(console: Console) -> None:
    client, engine = console
    csrf = _csrf(client.get("/report").text)
    other = ReportCaptcha("another secret").new(answer="K7PQX")
    page = client.post("/report?lang=en", data={**TIP, "csrf": csrf, "captcha_token": other.token,
                                                 "captcha_answer": "K7PQX"})
    _refused(page, WRONG[1])
    assert _count(engine) == 0


def test_a_token_is_good_once(console: Console) -> None:
    client, engine = console
    csrf = _csrf(client.get("/report").text)
    solved = _solved()
    assert client.post("/report", data={**TIP, "csrf": csrf, **solved}).status_code == 200
    _refused(client.post("/report", data={**TIP, "csrf": csrf, **solved}), WRONG[0])
    assert _count(engine) == 1
    # a wrong guess spends the token too: one guess per image
    solved = _solved()
    _refused(client.post("/report", data={**TIP, "csrf": csrf, **solved, "captcha_answer": "AAAAA"}), WRONG[0])
    _refused(client.post("/report", data={**TIP, "csrf": csrf, **solved}), WRONG[0])
    assert _count(engine) == 1


@pytest.mark.parametrize("region", ["", "999999", "32010"])
def test_a_report_needs_a_listed_place(console: Console, region: str) -> None:
    client, engine = console
    csrf = _csrf(client.get("/report").text)
    page = client.post("/report", data={**TIP, "region_code": region, "csrf": csrf, **_solved()})
    assert page.status_code == 422 and 'id="report-error">请从列表中选择地区后再提交<' in page.text
    assert '<option value="" selected>请选择</option>' in page.text
    assert _count(engine) == 0
    kept = client.post("/report?lang=en", data={**TIP, "region_code": "320100", "csrf": csrf,
                                                "captcha_answer": "x"})
    assert '<option value="320100" selected>' in kept.text  # a valid place is kept when the code was wrong


def test_the_answer_and_the_token_leak_nothing() -> None:
    """Five characters without look-alikes; the token holds no plain hash a script could reverse."""
    challenge = ReportCaptcha(SECRET).new()
    assert len(challenge.answer) == captcha.LENGTH and set(challenge.answer) <= set(captcha.ALPHABET)
    assert not set("0O1IL") & set(captcha.ALPHABET)
    assert hashlib.sha256(challenge.answer.encode()).hexdigest() not in challenge.token
    assert challenge.answer not in challenge.token


def test_the_used_nonces_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(captcha, "USED_NONCES", 3)
    checker = ReportCaptcha(SECRET)
    challenges = [checker.new(answer="ABCDE") for _ in range(5)]
    assert all(checker.check(c.token, "ABCDE") for c in challenges)
    assert len(checker._used) <= 3
    assert not checker.check(challenges[-1].token, "ABCDE")


def test_no_backdoor() -> None:
    """The check has no switch: nothing in the module reads the environment."""
    source = Path(captcha.__file__).read_text(encoding="utf-8")
    assert "environ" not in source and "getenv" not in source
