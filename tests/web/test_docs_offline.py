"""Issue 13, item 6: /docs serves Swagger UI from the console itself (fastapi-offline's files), not a CDN."""

from __future__ import annotations

from fastapi.testclient import TestClient

from minescope.web.app import create_app


def test_docs_page_loads_swagger_ui_from_the_console(store_target: str) -> None:
    client = TestClient(create_app(store_target, secret="test"))
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "/docs-assets/swagger-ui.css" in docs.text
    assert "cdn.jsdelivr.net" not in docs.text and "https://" not in docs.headers["content-security-policy"]
    assert "'sha256-" in docs.headers["content-security-policy"]
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css")):
        r = client.get(f"/docs-assets/{asset}")
        assert r.status_code == 200 and kind in r.headers["content-type"] and len(r.content) > 100_000
    spec = client.get("/openapi.json").json()
    assert spec["paths"]
    # the API's security scheme: Swagger UI's "Authorize" takes a bearer token
    assert spec["components"]["securitySchemes"]["token"] == {**spec["components"]["securitySchemes"]["token"],
                                                              "type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"token": []}]
