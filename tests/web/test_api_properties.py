"""Property-based run of the console's JSON API from its own OpenAPI description (schemathesis).

Every operation gets generated requests, valid and invalid, as an analyst of one county with an API
token. Nothing may answer 5xx, and every refusal (4xx) must say what was wrong, in Chinese and English.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from helpers import Conversation, write_pcap
from minescope.cases.workflow import sync_cases
from minescope.pipeline import Scanner, ScanOptions
from minescope.store.accounts import add_user, new_token
from minescope.store.findings import open_store, save_scan
from minescope.web.app import create_app

SUBMIT = b'{"id": 4, "method": "mining.submit", "params": ["w.rig", "bf", "00000001", "504e86ed", "b2"]}\n'
STRATUM = [(0, 0.0, b'{"id": 1, "method": "mining.subscribe", "params": []}\n'), (0, 5.0, SUBMIT)]


@pytest.fixture
def api_schema(tmp_path: Path, store_target: str):  # type: ignore[no-untyped-def]
    registry = tmp_path / "orgs.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n10.1.0.0/16,玄武区某局,government,320102,\n"
                        "10.2.0.0/16,秦淮区某大学,university,320104,\n", encoding="utf-8")
    pcap = write_pcap(tmp_path / "c.pcap", [Conversation("10.1.0.5", 40000, "203.0.113.9", 3333, STRATUM),
                                            Conversation("10.2.0.5", 40001, "203.0.113.9", 3333, STRATUM)])
    engine = open_store(store_target)
    save_scan(engine, Scanner(ScanOptions(registry=registry)).scan([pcap]))
    sync_cases(engine)
    token = new_token(engine, add_user(engine, "xuanwu", "a long enough password", "analyst", "320102"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(store_target, secret="test"))
    schema.config.headers = {"Authorization": f"Bearer {token}"}
    return schema


def clear_refusal(ctx, response, case) -> None:  # type: ignore[no-untyped-def]
    """A 4xx carries a one-line message with both languages (``zh / en``)."""
    if 400 <= response.status_code < 500 and response.headers.get("content-type", [""])[0].startswith(
            "application/json"):
        detail = response.json().get("detail")
        assert isinstance(detail, str) and " / " in detail and detail.strip(), f"unclear refusal: {detail!r}"


# Driven through schemathesis' Python API rather than its pytest plugin, which does not run on pytest 9.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_and_clear_refusals(api_schema, mode: GenerationMode) -> None:  # type: ignore[no-untyped-def]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(checks=[not_a_server_error], additional_checks=[clear_refusal])

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
            assert mode is GenerationMode.NEGATIVE


def test_what_the_property_run_found_stays_fixed(api_schema) -> None:  # type: ignore[no-untyped-def]
    """Inputs that once gave 5xx: ids past 64 bits, NUL characters (PostgreSQL refuses them in text)."""
    from fastapi.testclient import TestClient

    client = TestClient(api_schema.app)
    headers = api_schema.config.headers
    for method, path, body in [("GET", "/api/cases/9223372036854775808", None),
                               ("GET", "/api/cases?offset=9223372036854775808", None),
                               ("GET", "/api/cases?state=%00", None),
                               ("POST", "/api/cases/1/assign", {"owner": "a\x00b", "due_at": 1.0}),
                               ("POST", "/api/cases/1/comments", {"text": "\x00"})]:
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 422, (path, r.text)
        assert " / " in r.json()["detail"]
    r = client.post("/api/cases/1/assign", content=b"\xff{", headers={**headers, "content-type": "application/json"})
    assert r.status_code in (400, 422) and " / " in r.json()["detail"]
