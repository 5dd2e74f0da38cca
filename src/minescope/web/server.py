"""Running the console: one process, or several sharing one listening socket (``minescope serve --workers``).

The socket is made here, with IPPROTO_TCP: uvicorn's own (Config.bind_socket) leaves the protocol 0,
and asyncio then skips TCP_NODELAY on every connection it accepts, so with ``--workers`` each
keep-alive answer would wait ~40 ms for the client's delayed ACK (Kludex/uvicorn#3149).
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Any

from minescope import settings
from minescope.errors import InputError


def app_from_env() -> Any:
    """The console over $MINESCOPE_DB (uvicorn's factory: each worker process builds its own)."""
    from minescope.web.app import create_app

    return create_app(settings.DB.value() or "", secret=settings.SECRET.value())


def run(db: str | Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    settings.DB.export(str(db))
    # every worker must sign and check session cookies with the same key
    settings.SECRET.export(secrets.token_urlsafe(32), keep=True)
    config = uvicorn.Config("minescope.web.server:app_from_env", factory=True, host=host, port=port,
                            workers=workers, log_level="warning", access_log=False,
                            # X-Forwarded-* is believed only from MINESCOPE_TRUSTED_PROXIES, by the app itself
                            # (minescope.web.security.TrustedProxies); uvicorn would believe 127.0.0.1 by default
                            proxy_headers=False)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise InputError(f"{host}:{port}: 无法监听（{e.strerror}）；端口可能已被占用，"
                         "请用 --port 换一个端口或 --host 换一个地址",
                         f"{host}:{port}: cannot listen there ({e.strerror}); the port may be in use: choose "
                         "another with --port, or another address with --host") from e
    sock.set_inheritable(True)
    if workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()
