"""What guards the console before any endpoint runs: request body limits (checked before
authentication and before the body is read), security headers on every answer, and the client
address and scheme as trusted proxies state them.

The ASGI middlewares here wrap the FastAPI app made by ``minescope.web.app.create_app``:

- ``BodyLimit``: a request whose ``Content-Length`` exceeds its path's limit is refused (413) unread;
  a body sent without one (chunked) is counted as it streams and refused the moment it passes the
  limit. Evidence uploads (the only large bodies) must carry a live session or a write token: an
  anonymous upload is refused (401) before a byte of it is read.
- ``SecurityHeaders``: a Content-Security-Policy without ``unsafe-inline`` (scripts and styles come
  from ``/static``; the API docs page gets the hashes of its own inline script), ``frame-ancestors
  'none'``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``, and HSTS on HTTPS.
- ``TrustedProxies``: X-Forwarded-For and X-Forwarded-Proto are believed only from the addresses of
  ``MINESCOPE_TRUSTED_PROXIES`` (uvicorn's ProxyHeadersMiddleware), so the login throttle counts the
  real client and HSTS knows the browser used TLS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_LIMIT = 1 << 20  # 1 MiB: forms, JSON bodies, public reports
UPLOAD_LIMIT = 20 * 2**20 + 256 * 1024  # an evidence file of 20 MiB and its multipart framing
UPLOAD_PATH = re.compile(r"^/(api/)?cases/[^/]+/attachments/?$")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


TOO_LARGE = "请求体过大 / request body too large"
LOGIN_FIRST = "上传附件需要登录或可写的 API 令牌 / uploading needs a login or a write API token"


class BodyLimit:
    """Refuse bodies over their path's limit without reading them; refuse anonymous uploads unread.

    ``may_upload(scope)`` says whether the request carries a live session or write token (it runs in a
    worker thread: it reads the store). It must sit inside the session middleware (``scope["session"]``)."""

    def __init__(self, app: ASGIApp, may_upload: Callable[[Scope], bool], limit: int = BODY_LIMIT,
                 upload_limit: int = UPLOAD_LIMIT) -> None:
        self.app, self.may_upload, self.limit, self.upload_limit = app, may_upload, limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = bool(UPLOAD_PATH.match(scope["path"]))
        limit = self.upload_limit if upload else self.limit
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _answer(send, 413, TOO_LARGE)
            return
        if upload and not await anyio.to_thread.run_sync(self.may_upload, scope):
            await _answer(send, 401, LOGIN_FIRST)
            return
        seen, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:  # whatever the app answers to a cut-off body, the answer is "too large"
                if not started:
                    started = True
                    await _answer(send, 413, TOO_LARGE)
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
            if not started:
                await _answer(send, 413, TOO_LARGE)


def _script_hashes(html: bytes) -> list[str]:
    found = re.findall(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in found]


class SecurityHeaders:
    """Security headers on every HTTP answer (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"
        docs = scope["path"] in DOCS_PATHS
        held: Message | None = None
        chunks: list[bytes] = []

        def headers(start: Message, csp: str) -> Message:
            have = {k.lower() for k, _ in start.get("headers", [])}
            extra = [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                     (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
                     (b"cross-origin-opener-policy", b"same-origin")]
            if tls:
                extra.append((b"strict-transport-security", HSTS.encode()))
            start["headers"] = [*start.get("headers", []), *((k, v) for k, v in extra if k not in have)]
            return start

        async def wrapped(message: Message) -> None:
            nonlocal held
            if not docs:
                await send(headers(message, CSP) if message["type"] == "http.response.start" else message)
                return
            # the docs page: hold it (a few kB) to allow exactly its own inline scripts
            if message["type"] == "http.response.start":
                held = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            allowed = " ".join(_script_hashes(body))  # Swagger UI itself is served from /docs-assets
            csp = CSP.replace("script-src 'self'", f"script-src 'self' {allowed}")
            assert held is not None
            await send(headers(held, csp))
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, wrapped)


class TrustedProxies:
    """Believe X-Forwarded-For/-Proto from these addresses only (comma-separated; none: from nobody)."""

    def __init__(self, app: ASGIApp, proxies: str | None) -> None:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        hosts = [p.strip() for p in (proxies or "").split(",") if p.strip()]
        self.app: Any = ProxyHeadersMiddleware(app, trusted_hosts=hosts) if hosts else app  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
