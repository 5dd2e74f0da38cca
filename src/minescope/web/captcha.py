"""The public report form's CAPTCHA (验证码): an image of five characters, drawn offline, checked statelessly.

The image is drawn by the ``captcha`` package (lepture/captcha, BSD) with Pillow and the font it ships,
so it needs no network and no third-party service. The server keeps no per-challenge state: the form
carries a token that the server signed with a key derived from the console's secret key (the one that
signs the session cookie, ``MINESCOPE_SECRET`` under ``minescope serve``)::

    token = "<answer digest>.<nonce>.<expires>.<signature>"

- the answer is five characters from an alphabet without look-alikes (no 0/O/1/I/L), any case;
- ``answer digest`` is an HMAC-SHA256 of the nonce and the upper-cased answer under a derived key: the
  token is in the page, and a plain hash of one of 31**5 answers would be found by trying them all;
- ``expires`` is ten minutes after the challenge was made (Unix seconds);
- ``signature`` is an HMAC-SHA256 of the rest under another derived key.

A token is checked for its signature, its expiry and the answer (``hmac.compare_digest``), and is good
for one attempt only: the nonces of the last ``USED_NONCES`` tokens tried are remembered in this
process. Several workers (``minescope serve --workers``) do not share that memory, so a token could be
replayed once per worker within its ten minutes; the per-address limit on reports (``TIP_LIMIT`` in
``minescope.web.app``) bounds what such replays can submit anyway.

What it does not do: it does not stop a person paid to solve images, nor a model trained on this
package's images; it offers no audio challenge. It raises the cost of scripted mass reports, which is
its job; the rate limit and triage by the county do the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from random import Random

from captcha.image import ImageCaptcha

__all__ = ["ALPHABET", "LENGTH", "TTL_S", "Challenge", "ReportCaptcha"]

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
LENGTH = 5
TTL_S = 600  # ten minutes to fill in the form
USED_NONCES = 10_000  # tokens remembered as spent, per process


@dataclass(frozen=True)
class Challenge:
    answer: str  # never sent to the browser except as the image
    token: str  # the hidden form field
    png: bytes

    @property
    def data_uri(self) -> str:
        """The image inline (the console's Content-Security-Policy allows ``img-src data:``)."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


class ReportCaptcha:
    """Makes and checks challenges under one secret key; remembers which tokens were tried.

    ``rng`` chooses the answers (``secrets.SystemRandom`` unless a test passes a seeded ``Random``)."""

    def __init__(self, secret: str | bytes, rng: Random | None = None) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        self._answer_key = hmac.new(key, b"minescope report captcha: answer", hashlib.sha256).digest()
        self._sign_key = hmac.new(key, b"minescope report captcha: token", hashlib.sha256).digest()
        self._rng = rng or secrets.SystemRandom()
        self._image = ImageCaptcha(width=200, height=70)
        self._used: OrderedDict[str, float] = OrderedDict()  # nonce -> its token's expiry
        self._lock = threading.Lock()  # sync routes run in a thread pool

    def new(self, answer: str | None = None, now: float | None = None) -> Challenge:
        """A fresh challenge; ``answer`` and ``now`` are for tests (a known answer, an old token)."""
        answer = (answer or "".join(self._rng.choice(ALPHABET) for _ in range(LENGTH))).upper()
        nonce = secrets.token_urlsafe(12)
        expires = int((time.time() if now is None else now) + TTL_S)
        payload = f"{self._digest(nonce, answer)}.{nonce}.{expires}"
        token = f"{payload}.{self._sign(payload)}"
        png = self._image.generate(answer, format="png").getvalue()
        return Challenge(answer=answer, token=token, png=png)

    def check(self, token: str, answer: str, now: float | None = None) -> bool:
        """Whether ``answer`` solves the challenge of ``token``: signed here, not expired, not tried before.

        A token whose signature holds is spent by this call, right or wrong: one guess per image."""
        now = time.time() if now is None else now
        parts = token.split(".")
        if len(parts) != 4 or len(token) > 200:
            return False
        digest, nonce, expires_text, signature = parts
        if not hmac.compare_digest(signature, self._sign(f"{digest}.{nonce}.{expires_text}")):
            return False
        if not expires_text.isdigit() or int(expires_text) < now:
            return False
        if not self._spend(nonce, float(expires_text), now):
            return False
        guess = answer.strip().upper()
        return hmac.compare_digest(digest, self._digest(nonce, guess))

    def _digest(self, nonce: str, answer: str) -> str:
        return hmac.new(self._answer_key, f"{nonce}:{answer}".encode(), hashlib.sha256).hexdigest()

    def _sign(self, payload: str) -> str:
        return hmac.new(self._sign_key, payload.encode(), hashlib.sha256).hexdigest()

    def _spend(self, nonce: str, expires: float, now: float) -> bool:
        """Mark ``nonce`` used; False if it already was. Forgets expired nonces and the oldest past the bound."""
        with self._lock:
            if nonce in self._used:
                return False
            while self._used and (len(self._used) >= USED_NONCES or next(iter(self._used.values())) < now):
                self._used.popitem(last=False)
            self._used[nonce] = expires
            return True
