"""Active confirmation of suspected pools: speak to an endpoint as a miner would and read the answer.

This is **active scanning**: it opens connections to other people's servers. Run it only against
endpoints the operator is entitled to probe. Nothing here runs during a scan; ``minescope probe`` is the
only caller.

For each endpoint the prober tries clear text, then TLS (without certificate verification: pools use
self-signed certificates; the certificate's subject and SHA-256 fingerprint are kept as evidence), and in
each the three dialects a pool answers: Stratum v1 (``mining.subscribe`` + ``mining.authorize``), the
XMRig/Monero ``login`` and EthereumStratum/1.0.0 (``mining.subscribe``). One connection per dialect:
a pool may close on a method of another dialect. The first answer in a pool's terms (a job, a
``mining.notify``, a ``set_difficulty``, a subscribe result, an error about a wallet or a worker) makes
it a **pool**; an HTTP response or another protocol makes it **not a pool**; a refused or silent
connection makes it **dead**. The first bytes of the answer (bounded) are the evidence.

Limits: endpoints per second (``rate``), connections at once (``concurrency``), endpoints per run
(``budget``), seconds per read (``timeout``); private, loopback and reserved addresses are refused unless
``allow_private``. Every attempt is one JSON line in the probe log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from minescope import __version__

AGENT = f"minescope-probe/{__version__}"
# A syntactically valid Monero address (95 characters, base58, starts with 4) that belongs to nobody we
# know: the pool checks its form and answers with a job or an error about it, either of which confirms it.
DUMMY_WALLET = "4" + "A" * 94
DUMMY_WORKER = "minescope.probe"
EVIDENCE_BYTES = 1024  # of each answer kept as evidence and in the log
READ_LIMIT = 16384  # no answer is read further than this

# verdicts
POOL, NOT_POOL, DEAD, REFUSED, OVER_BUDGET = "pool", "not_pool", "dead", "refused", "over_budget"
PROBED = frozenset({POOL, NOT_POOL, DEAD})  # the others were never contacted

DIALECTS = ("stratum", "xmrig", "ethereumstratum")

# A JSON-RPC error is a pool's only when it speaks of mining things; "Method not found" alone is any server's.
_POOL_TERMS = re.compile(
    r"wallet|address|login|worker|unauthori[sz]ed|unauthenticated|not subscribed|subscri|share|job|difficulty|"
    r"miner|mining|pool|nicehash|rigid|algo", re.IGNORECASE)
_POOL_PUSHES = frozenset({"mining.notify", "mining.set_difficulty", "mining.set_target", "mining.set_extranonce",
                          "job", "client.reconnect", "client.show_message", "mining.set_version_mask"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to probe: an address (never a name: no DNS query leaves for it), a port, and the name to
    give as SNI when the suspicion came with one."""

    ip: str
    port: int
    host: str | None = None
    finding_ids: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        return (self.ip, self.port)

    def __str__(self) -> str:
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{ip}:{self.port}" + (f"@{self.host}" if self.host else "")


@dataclass(slots=True)
class Attempt:
    """One connection: what was sent, in which dialect and transport, and what came back."""

    dialect: str
    tls: bool
    outcome: str  # pool | json_rpc | http | tls_alert | other | closed | silent | refused | timeout | tls_failed
    answer: bytes = b""
    detail: str = ""
    tls_info: dict[str, Any] | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class ProbeResult:
    endpoint: Endpoint
    verdict: str
    protocol: str | None = None  # the dialect the pool answered
    tls: bool = False
    reason: str = ""  # why this verdict, in a few words (English; the CLI says it in either language)
    attempts: list[Attempt] = field(default_factory=list)
    probed_at: float = 0.0

    def evidence(self) -> dict[str, Any]:
        """What is kept: the answering attempt's first bytes, its TLS certificate, and every attempt's outcome."""
        answering = next((a for a in self.attempts if a.outcome == "pool"), None)
        out: dict[str, Any] = {"reason": self.reason,
                               "attempts": [{"dialect": a.dialect, "tls": a.tls, "outcome": a.outcome}
                                            for a in self.attempts]}
        if answering is not None:
            out["answer"] = answering.answer[:EVIDENCE_BYTES].decode("utf-8", "replace")
            if answering.tls_info:
                out["certificate"] = answering.tls_info
        return out


# --- what is sent --------------------------------------------------------------------------------------

def request(dialect: str) -> bytes:
    """The opening a miner of ``dialect`` sends, newline-delimited JSON-RPC."""
    if dialect == "stratum":
        lines: list[dict[str, Any]] = [
            {"id": 1, "method": "mining.subscribe", "params": [AGENT]},
            {"id": 2, "method": "mining.authorize", "params": [DUMMY_WORKER, "x"]},
        ]
    elif dialect == "xmrig":
        lines = [{"id": 1, "jsonrpc": "2.0", "method": "login",
                  "params": {"login": DUMMY_WALLET, "pass": "x", "agent": AGENT, "algo": ["rx/0", "cn/r"]}}]
    elif dialect == "ethereumstratum":
        lines = [{"id": 1, "method": "mining.subscribe", "params": [AGENT, "EthereumStratum/1.0.0"]}]
    else:
        raise ValueError(dialect)
    return b"".join(json.dumps(m, separators=(",", ":")).encode() + b"\n" for m in lines)


# --- how an answer is read ----------------------------------------------------------------------------

def classify(answer: bytes) -> tuple[str, str]:
    """(outcome, detail) of an answer's bytes: ``pool`` when any complete line is a pool's."""
    if not answer:
        return "closed", ""
    if answer.startswith(b"HTTP/"):
        return "http", answer.split(b"\r\n", 1)[0][:80].decode("latin-1")
    if answer[:1] in (b"\x15", b"\x16") and answer[1:2] == b"\x03":
        return "tls_alert", "a TLS record"  # a TLS server reading our JSON as a broken handshake
    seen_json = ""
    for line in answer.split(b"\n"):
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            break
        if not isinstance(message, dict):
            continue
        why = _pool_message(message)
        if why:
            return "pool", why
        seen_json = seen_json or _short(message)
    if seen_json:
        return "json_rpc", seen_json
    return "other", answer[:40].decode("latin-1").encode("unicode_escape").decode()


def _pool_message(message: dict[str, Any]) -> str:
    """Why one JSON-RPC message is a pool's, or '' if it is not."""
    method = message.get("method")
    if isinstance(method, str) and method in _POOL_PUSHES:
        return f"push {method}"
    result = message.get("result")
    if isinstance(result, dict) and isinstance(result.get("job"), dict):
        return "login result with a job"
    if isinstance(result, list) and result and _names_mining_methods(result[0]):
        return "subscribe result"
    error = message.get("error")
    text = error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
    if isinstance(error, list) and len(error) >= 2:  # Stratum v1 errors: [code, message, data]
        text = str(error[1])
    if isinstance(text, str) and _POOL_TERMS.search(text):
        return f"error in a pool's terms: {text[:80]}"
    return ""


def _names_mining_methods(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("mining.")
    if isinstance(value, list):
        return any(_names_mining_methods(v) for v in value[:8])
    return False


def _short(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))[:80]


# --- TLS certificate as evidence ----------------------------------------------------------------------

_NAMES = {"2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST"}


def certificate_evidence(der: bytes | None) -> dict[str, Any]:
    """SHA-256 fingerprint, subject and issuer of a DER certificate (read without verification)."""
    if not der:
        return {}
    out: dict[str, Any] = {"sha256": hashlib.sha256(der).hexdigest()}
    with contextlib.suppress(ValueError, IndexError):
        cert = _der_children(_der_one(der, 0)[1])
        tbs = _der_children(cert[0][1])
        fields = tbs[1:] if tbs[0][0] == 0xA0 else tbs  # the optional [0] version
        out["issuer"], out["subject"] = _der_name(fields[2][1]), _der_name(fields[4][1])
    return out


def _der_one(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, contents, next offset) of the DER element at ``at``."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[at:at + n], "big")
        at += n
    if at + length > len(data):
        raise ValueError("truncated")
    return tag, data[at:at + length], at + length


def _der_children(data: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(data):
        tag, contents, at = _der_one(data, at)
        out.append((tag, contents))
    return out


def _der_oid(data: bytes) -> str:
    parts, value = [data[0] // 40, data[0] % 40], 0
    for byte in data[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _der_name(data: bytes) -> str:
    parts = []
    for _set_tag, rdn in _der_children(data):
        for _seq_tag, pair in _der_children(rdn):
            (_, oid), (_, value) = _der_children(pair)[:2]
            parts.append(f"{_NAMES.get(_der_oid(oid), _der_oid(oid))}={value.decode('utf-8', 'replace')}")
    return ",".join(parts)


# --- limits ---------------------------------------------------------------------------------------------

def refusal(ip: str, allow_private: bool) -> str:
    """Why this address is not probed ('' when it may be): not an address, or not a public one."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "not an IP address"
    if allow_private:
        return ""
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_private:
        return "a private address"
    if addr.is_multicast or addr.is_reserved or addr.is_link_local or addr.is_unspecified or not addr.is_global:
        return "a reserved address"
    return ""


class RateLimit:
    """At most ``rate`` endpoint starts per second: the n-th start waits until ``n / rate`` seconds
    after the first. ``clock`` and ``sleep`` are injectable so that tests count waits instead of timing."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_start: float | None = None
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:  # starts are handed out in turn
            now = self.clock()
            start = now if self.next_start is None else max(now, self.next_start)
            self.next_start = start + self.interval
            if start > now:
                await self.sleep(start - now)


@dataclass(slots=True)
class Limits:
    rate: float = 10.0  # endpoints started per second
    concurrency: int = 20  # endpoints probed at once
    budget: int = 256  # endpoints probed per run; the rest are reported, not contacted
    timeout: float = 3.0  # seconds for a connection, and for an answer
    allow_private: bool = False


# --- the prober -----------------------------------------------------------------------------------------

class Prober:
    """Probes endpoints within ``limits``; ``log`` (a text file) receives one JSON line per attempt."""

    def __init__(self, limits: Limits, log: TextIO | None = None,
                 rate_limit: RateLimit | None = None) -> None:
        self.limits = limits
        self.log = log
        self.rate_limit = rate_limit
        self.connections = 0  # connections opened (for the tests' and the benchmark's counts)

    def run(self, endpoints: Sequence[Endpoint]) -> list[ProbeResult]:
        return asyncio.run(self.probe_all(endpoints))

    async def probe_all(self, endpoints: Sequence[Endpoint]) -> list[ProbeResult]:
        """Results in the order given: refused and over-budget endpoints are reported without a connection."""
        rate_limit = self.rate_limit or RateLimit(self.limits.rate)
        gate = asyncio.Semaphore(max(1, self.limits.concurrency))
        results: list[ProbeResult | None] = [None] * len(endpoints)
        jobs = []
        budget = self.limits.budget
        for i, endpoint in enumerate(endpoints):
            why = refusal(endpoint.ip, self.limits.allow_private)
            if why:
                results[i] = self._log_only(ProbeResult(endpoint, REFUSED, reason=why, probed_at=time.time()))
            elif budget <= 0:
                results[i] = self._log_only(ProbeResult(endpoint, OVER_BUDGET, reason="over the run's budget",
                                                        probed_at=time.time()))
            else:
                budget -= 1
                jobs.append((i, endpoint))

        async def one(i: int, endpoint: Endpoint) -> None:
            async with gate:
                await rate_limit.wait()
                results[i] = await self.probe(endpoint)

        await asyncio.gather(*(one(i, e) for i, e in jobs))
        return [r for r in results if r is not None]

    async def probe(self, endpoint: Endpoint) -> ProbeResult:
        """Clear text, then TLS; in each the three dialects, until one answers as a pool."""
        result = ProbeResult(endpoint, NOT_POOL, probed_at=time.time())
        for tls in (False, True):
            for dialect in DIALECTS:
                attempt = await self._attempt(endpoint, dialect, tls)
                result.attempts.append(attempt)
                self._write_log(endpoint, attempt)
                if attempt.outcome == "pool":
                    result.verdict, result.protocol, result.tls = POOL, dialect, tls
                    result.reason = attempt.detail
                    return result
                if attempt.outcome in ("refused", "timeout") and not tls:
                    result.verdict, result.reason = DEAD, f"connection {attempt.outcome}"
                    return result  # nothing listens: TLS on the same port would not either
                if attempt.outcome in ("http", "tls_alert", "tls_failed", "refused"):
                    break  # this transport is another protocol's (or gone); the other dialects would hear the same
            if result.attempts[-1].outcome == "http" and not tls:
                break  # an HTTP server on this port: it will not speak TLS there either
        result.reason = _not_pool_reason(result.attempts)
        return result

    async def _attempt(self, endpoint: Endpoint, dialect: str, tls: bool) -> Attempt:
        timeout = self.limits.timeout
        started = time.monotonic()
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False  # pools use self-signed certificates: the certificate is evidence
            context.verify_mode = ssl.CERT_NONE
        self.connections += 1
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                endpoint.ip, endpoint.port, ssl=context, server_hostname=endpoint.host if tls else None),
                timeout)
        except (ssl.SSLError, ConnectionResetError) as e:
            if not tls:
                return Attempt(dialect, tls, "closed", detail=str(e)[:80], seconds=time.monotonic() - started)
            return Attempt(dialect, tls, "tls_failed", detail=str(e)[:80], seconds=time.monotonic() - started)
        except TimeoutError:
            return Attempt(dialect, tls, "timeout" if not tls else "tls_failed", detail="no handshake in time",
                           seconds=time.monotonic() - started)
        except OSError as e:
            return Attempt(dialect, tls, "refused", detail=e.strerror or str(e), seconds=time.monotonic() - started)
        tls_info = None
        if tls:
            ssl_object = writer.get_extra_info("ssl_object")
            tls_info = certificate_evidence(ssl_object.getpeercert(binary_form=True) if ssl_object else None)
            if ssl_object is not None:
                tls_info["version"] = ssl_object.version()
        try:
            writer.write(request(dialect))
            answer = await self._read_answer(reader, timeout)
            outcome, detail = classify(answer) if answer else ("silent", "") if answer is None else ("closed", "")
        except (OSError, ssl.SSLError) as e:
            answer, outcome, detail = b"", "closed", str(e)[:80]
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout)
        return Attempt(dialect, tls, outcome, answer or b"", detail, tls_info, time.monotonic() - started)

    @staticmethod
    async def _read_answer(reader: asyncio.StreamReader, timeout: float) -> bytes | None:
        """Bytes until the answer shows a pool, is not JSON lines, closes, or ``timeout`` passes with
        nothing more; None when nothing came at all."""
        answer = b""
        deadline = time.monotonic() + timeout
        while len(answer) < READ_LIMIT:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(4096), left)
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
            outcome, _ = classify(answer)
            if outcome in ("pool", "http", "tls_alert", "other"):
                break
            deadline = min(deadline, time.monotonic() + timeout / 3)  # a pool pushes its job at once
        return answer if answer else None if time.monotonic() >= deadline else b""

    def _log_only(self, result: ProbeResult) -> ProbeResult:
        if self.log is not None:
            self.log.write(json.dumps({"at": result.probed_at, "endpoint": str(result.endpoint),
                                       "verdict": result.verdict, "reason": result.reason}) + "\n")
        return result

    def _write_log(self, endpoint: Endpoint, attempt: Attempt) -> None:
        if self.log is None:
            return
        self.log.write(json.dumps({
            "at": time.time(), "endpoint": str(endpoint), "dialect": attempt.dialect, "tls": attempt.tls,
            "outcome": attempt.outcome, "detail": attempt.detail, "seconds": round(attempt.seconds, 4),
            "answer": attempt.answer[:EVIDENCE_BYTES].decode("utf-8", "replace"),
            **({"certificate": attempt.tls_info} if attempt.tls_info else {}),
        }, ensure_ascii=False) + "\n")


def _not_pool_reason(attempts: Iterable[Attempt]) -> str:
    outcomes = [a.outcome for a in attempts]
    for outcome, reason in (("http", "an HTTP server"), ("other", "another protocol"),
                            ("json_rpc", "JSON-RPC, not in a pool's terms")):
        if outcome in outcomes:
            return reason
    if all(o in ("silent", "tls_failed") for o in outcomes):
        return "no answer"
    return "closed without an answer"


# --- endpoints as the user writes them ----------------------------------------------------------------

_ENDPOINT_RE = re.compile(r"^\s*(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<v4>[^\s:@\[\]]+)):(?P<port>\d{1,5})"
                          r"(?:@(?P<host>[A-Za-z0-9.-]+))?\s*$")


def parse_endpoint(text: str) -> Endpoint:
    """``IP:PORT``, ``[IPv6]:PORT``, each optionally ``@NAME`` (the SNI to give). Raises ValueError."""
    m = _ENDPOINT_RE.match(text)
    if not m:
        raise ValueError(text)
    ip = m.group("v6") or m.group("v4")
    port = int(m.group("port"))
    try:
        ip = str(ipaddress.ip_address(ip))
    except ValueError:
        raise ValueError(text) from None  # a name: it would need a DNS query, and probes go to addresses
    if not 0 < port < 65536:
        raise ValueError(text)
    return Endpoint(ip, port, m.group("host"))


def read_endpoint_list(path: Path) -> tuple[list[Endpoint], list[tuple[int, str]]]:
    """Endpoints of a list file (one a line; ``#`` comments), and the (line number, text) of bad lines."""
    endpoints, bad = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            endpoints.append(parse_endpoint(text))
        except ValueError:
            bad.append((number, text[:80]))
    return endpoints, bad


def merge_endpoints(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """One endpoint per (ip, port), in the order its first mention comes (``suspected_endpoints``: the
    most confident finding first), with every finding that pointed at it."""
    merged: dict[tuple[str, int], Endpoint] = {}
    for e in endpoints:
        known = merged.get(e.key)
        if known is None:
            merged[e.key] = e
        else:
            merged[e.key] = Endpoint(e.ip, e.port, known.host or e.host, known.finding_ids + tuple(
                i for i in e.finding_ids if i not in known.finding_ids))
    return list(merged.values())
