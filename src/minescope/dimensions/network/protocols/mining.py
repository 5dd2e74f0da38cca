"""Mining protocols as a miner speaks them to a pool: framing, parsing, session facts, hash rate.

The packet engine reassembles each TCP flow per direction and calls ``MiningStream.feed`` with the
next in-order bytes of a side. ``parse_messages`` is the same framing and decoding as a pure function.

Framing
    * newline-delimited JSON (Stratum v1 and its Equihash / EthereumStratum variants, CryptoNote
      (XMRig-style) JSON-RPC, ethproxy): one JSON value per line; a line may hold a JSON-RPC batch
      (array) or, from sloppy pools, several objects back to back;
    * HTTP/1.x with JSON bodies (getwork, getblocktemplate, eth_getWork over HTTP): Content-Length or
      chunked bodies; a close-delimited response body is read as lines.
    Unparsable bytes are skipped up to the next newline, never buffered. A partial message is capped at
    ``MAX_PARTIAL`` bytes; a longer one is dropped. A side that sends ``JUNK_LIMIT`` bytes,
    ``JUNK_LINES`` lines or ``JUNK_BINARY`` control bytes of non-JSON before any JSON is dead: nothing
    more of it is kept.

The mining decision rests on mining semantics: a *strong* message (a share submission with job and
nonce, a work push with blob/target/header, a work result such as eth_getWork's [header, seed,
boundary]) decides at once; *weak* ones (a login, authorize or subscribe, set_difficulty, a hash-rate
report, an X-Mining-Extensions header, a miner's User-Agent) need a second. Method names alone, from a
generic JSON-RPC service, never make a session.

A *lone miner request* decides too, answered or not: one client request that only a miner sends, well formed
in its dialect (``MiningStream.miner_request``). Failover miners dial dead pools, probes are refused, and a
solo miner's template request may go unanswered; the request alone is mining activity of its sender:
    * ``mining.subscribe`` whose first parameter is a miner agent (cgminer/…, XMRig/…, lolMiner …);
    * CryptoNote ``login`` with a miner's agent, or whose login is a coin address (XMRig sends ``login``,
      ``pass``, ``agent``, ``algo``, ``rigid``; Claymore's CryptoNote miner no agent);
    * ``mining.authorize`` whose worker is a coin address (``wallet.worker``);
    * ``eth_submitLogin`` whose login is an Ethereum address;
    * ``getwork`` (no parameters) in an HTTP request with a miner User-Agent or X-Mining-Extensions;
    * ``getblocktemplate`` with a BIP 22/23 template request (``capabilities`` or ``rules``), or with
      monerod's ``wallet_address``; monerod's ``get_block_template`` with a ``wallet_address``.
Generic JSON-RPC, wallet RPC (monero-wallet-rpc, Ethereum nodes' eth_*), Electrum and node RPC use none of
these, so they stay out. ``pool_answered`` tells whether the other side said anything back in the dialect.

Coin and algorithm rules (``None`` when the traffic does not tell)
    * ethproxy (``eth_*``) and EthereumStratum/1.0.0: Ethash; coin Ethereum (Ethereum Classic if the pool
      host says ``etc``).
    * CryptoNote: the job's (or login's single) ``algo`` field: ``rx/0`` RandomX / Monero, ``rx/wow``
      RandomX / Wownero, ``cn/r``, ``cn/1``, ``cn/2``, ``cn/0`` and plain ``cryptonight`` CryptoNight
      (coin Monero for ``cn/1``, ``cn/2``, ``cn/r``: the Monero forks that defined them),
      ``cn-lite/*`` CryptoNight-Lite, ``cn-heavy/*`` CryptoNight-Heavy, ``cn-pico/*`` CryptoNight-Pico,
      ``argon2/*`` Argon2, ``astrobwt`` AstroBWT, ``kawpow`` KawPow; any other value is kept as given.
      Without ``algo``: agent ``xmr-stak-cpu`` (CryptoNight only) gives CryptoNight; a Monero wallet
      (95 or 106 base58 characters starting 4 or 8) gives coin Monero, and then the blob's major
      version gives the algorithm (< 12 CryptoNight, >= 12 RandomX: Monero's v12 fork, Nov 2019).
    * Stratum v1: the mining.notify shape. Bitcoin shape (9 params, merkle branch list) is SHA-256,
      unless the pool host names a Scrypt coin (ltc, litecoin, doge, dogecoin). Equihash shape
      (8 params, version ``04000000``, used with mining.set_target) is Equihash (200,9); coin Zcash only
      if the pool host says zcash/zec. EthereumStratum notify shape (job, seed, header, clean) is Ethash.
      Before any notify, the mining.submit shape decides (3 params Ethash; a solution of > 1000 hex
      characters Equihash; 5-6 params SHA-256).
    * getwork / getblocktemplate: SHA-256 unless the host names a Scrypt coin; coin from the host only.
    * A pool host naming a coin (btc, bitcoin, bch, ltc, xmr, monero, zec, zcash, eth, etc …) sets the
      coin when it fits the algorithm family above.

Hash rate: Σ(expected hashes per share) / elapsed (see ``MiningStream.hashrate``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import orjson

from minescope.model import HashRate, MiningFacts

MAX_PARTIAL = 64 * 1024  # longest message (line or HTTP body) kept; longer ones are dropped
MAX_HEAD = 16 * 1024  # longest HTTP head
JUNK_LIMIT = 4096  # non-JSON bytes a side may send before its first JSON message
JUNK_LINES = 8  # non-JSON lines a side may send before its first JSON message
# Control bytes (not text) a side may send before its first JSON message: a JSON side, even one
# captured mid-line, starts with text; websocket frames and binary protocols do not.
JUNK_BINARY = 1
GIVE_UP_MESSAGES = 64  # JSON messages without mining evidence before giving up
MAX_METHODS = 64  # distinct method names counted
MAX_JOBS = 256  # jobs / work headers remembered for per-share difficulty
MAX_PENDING = 1024  # requests awaiting a response

TWO_32 = 2.0**32
TWO_256 = 2.0**256
# Zcash consensus powLimit, the "difficulty 1" target Zcash pools (z-nomp) use for share difficulty.
ZCASH_POW_LIMIT = (1 << 243) - 1
# Expected hashes per unit of stratum ``mining.set_difficulty``, by algorithm:
#   SHA-256: diff-1 target 0x00000000ffff0000… so 2^256/target ≈ 2^32 (Bitcoin convention);
#   Scrypt: cgminer's set_target multiplies the diff-1 target by 2^16, node-stratum-pool/NOMP use
#     ``multiplier: Math.pow(2, 16)`` and hash rate = shares × diff × 2^32 / multiplier: 2^16;
#   Ethash (EthereumStratum/1.0.0, NiceHash): difficulty defined as in Bitcoin: 2^32;
#   Equihash: 2^256 / powLimit (0x0007ff…ff, z-nomp's diff1) = 2^13 solutions. Pools differ here;
#     this is an assumption, used only when an Equihash pool sends set_difficulty not set_target.
DIFF_UNIT = {"SHA-256": TWO_32, "Scrypt": 2.0**16, "Ethash": TWO_32, "Equihash": 2.0**13}

_WS = re.compile(rb"[ \t\r\n]*")
_HTTP_TOKENS = (b"POST ", b"GET ", b"PUT ", b"HEAD ", b"OPTIONS ", b"DELETE ", b"PATCH ", b"HTTP/1.")
_TEXT_BYTES = b"\t\n\r" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]+")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,251}\.[A-Za-z]{2,63}")
_ADDRESS = re.compile(
    r"0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{26,110}|(?:bc|ltc|tb|bcrt)1[02-9ac-hj-np-z]{11,87}"
)
_MONERO_ADDRESS = re.compile(r"[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}|4[0-9AB][1-9A-HJ-NP-Za-km-z]{104}")
_PAYMENT_ID = re.compile(r"[0-9a-fA-F]{16}|[0-9a-fA-F]{64}")
_DIFF_SUFFIX = re.compile(r"\+\d+(?:\.\d+)?$")
_MINER_AGENT = re.compile(
    r"cgminer|bfgminer|sgminer|cpuminer|minerd|xmrig|xmr-stak|ethminer|claymore|phoenixminer|ccminer|"
    r"bminer|t-rex|nbminer|gminer|lolminer|teamredminer|nanominer|srbminer|ewbf|excavator|poclbm|"
    r"diablominer|btcminer|coinhive|bmminer|btminer|bosminer|luxminer|kawpowminer|nheqminer|"
    r"wildrig|\brigel\b|bzminer|onezerominer|\bminiz\b|z-enemy|cryptodredge|nerdminer|bitaxe|esp-miner|"
    r"xmrig-proxy|xmr-node-proxy|ethminer",
    re.IGNORECASE,
)
# A coin address strict enough to tell a wallet from a user name: Monero, Ethereum, bech32, or a
# base58 Bitcoin-family address (P2PKH/P2SH, Litecoin, Dogecoin, Dash, Zcash transparent).
_COIN_ADDRESS = re.compile(
    r"0x[0-9a-fA-F]{40}|(?:bc|ltc|tb|bcrt)1[02-9ac-hj-np-z]{11,87}|[13LMDXt][1-9A-HJ-NP-Za-km-z]{25,34}"
)
_STALE = re.compile(r"stale|job not found|expired|old job|outdated", re.IGNORECASE)

# Pool host tokens that name a coin: token → (coin, algorithm).
_HOST_COINS: dict[str, tuple[str, str]] = {
    "btc": ("Bitcoin", "SHA-256"), "bitcoin": ("Bitcoin", "SHA-256"),
    "bch": ("Bitcoin Cash", "SHA-256"), "bitcoincash": ("Bitcoin Cash", "SHA-256"),
    "ltc": ("Litecoin", "Scrypt"), "litecoin": ("Litecoin", "Scrypt"),
    "doge": ("Dogecoin", "Scrypt"), "dogecoin": ("Dogecoin", "Scrypt"),
    "zec": ("Zcash", "Equihash"), "zcash": ("Zcash", "Equihash"),
    "xmr": ("Monero", "CryptoNote"), "monero": ("Monero", "CryptoNote"),
    "eth": ("Ethereum", "Ethash"), "ethereum": ("Ethereum", "Ethash"),
    "etc": ("Ethereum Classic", "Ethash"),
}
# CryptoNote ``algo`` prefixes → algorithm; full values → coin.
_CN_ALGOS = (("rx/", "RandomX"), ("randomx", "RandomX"), ("cn-lite", "CryptoNight-Lite"),
             ("cryptonight-lite", "CryptoNight-Lite"), ("cn-heavy", "CryptoNight-Heavy"),
             ("cn-pico", "CryptoNight-Pico"), ("cn/", "CryptoNight"), ("cryptonight", "CryptoNight"),
             ("argon2", "Argon2"), ("astrobwt", "AstroBWT"), ("kawpow", "KawPow"))
_CN_COINS = {"rx/0": "Monero", "rx/wow": "Wownero", "cn/1": "Monero", "cn/2": "Monero", "cn/r": "Monero"}


# --------------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HttpHead:
    """One HTTP/1.x message head."""

    is_request: bool
    method: str  # request method, "" for responses
    status: int  # response status, 0 for requests
    headers: dict[str, str]  # lower-case names
    target: str = ""  # request target (path), "" for responses


# A frame: ("json", bytes) a JSON text; ("http", HttpHead); ("body", bytes) a non-JSON HTTP body;
# ("junk", (n_bytes, n_control_bytes, ends_a_line)) skipped bytes.
Frame = tuple[str, Any]


def _junk(chunk: bytes) -> Frame:
    """A junk frame; its counts add up the same however the bytes were split."""
    return ("junk", (len(chunk), len(chunk.translate(None, _TEXT_BYTES)), chunk.endswith(b"\n")))


def _parse_head(raw: bytes) -> HttpHead:
    lines = raw.decode("latin-1").split("\n")
    first = lines[0].strip().split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if first[0].startswith("HTTP/1."):
        status = int(first[1]) if len(first) > 1 and first[1].isdigit() and len(first[1]) == 3 else 0
        return HttpHead(False, "", status, headers)
    return HttpHead(True, first[0], 0, headers, first[1][:256] if len(first) > 1 else "")


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes | None, int] | None:
    """A chunked body from pos: (body, end), (None, end) if malformed or too long, None if incomplete."""
    parts: list[bytes] = []
    size_total = 0
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return None
        size_text = bytes(buf[pos:nl]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return (None, nl + 1)
        size_total += size
        if size_total > MAX_PARTIAL:
            return (None, nl + 1)
        pos = nl + 1
        if size == 0:
            end = buf.find(b"\n", pos)  # trailer section ends with an empty line; keep it simple
            return (b"".join(parts), end + 1) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos : pos + size]))
        pos += size
        pos = pos + 2 if buf[pos : pos + 2] == b"\r\n" else pos + 1


class Framer:
    """Splits one direction's bytes into frames; keeps only a partial message, never junk.

    Frames come out the same however the bytes are split across ``push`` calls.
    """

    __slots__ = ("body_len", "buf", "chunked", "need_len", "need_nl", "skip_bytes", "skip_line")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.skip_bytes = 0  # bytes of an HTTP body still to discard (not JSON, or too long)
        self.skip_line = False  # discard up to the next newline (rest of a junk or oversized line)
        self.need_nl = False  # no progress before a newline arrives
        self.need_len = 0  # no progress before the buffer holds this many bytes
        self.body_len = 0  # length of the HTTP body awaited after a framed head
        self.chunked = False  # a chunked HTTP body is awaited after a framed head

    def push(self, data: bytes, final: bool = False) -> list[Frame]:
        out: list[Frame] = []
        if self.skip_bytes and data:
            n = min(self.skip_bytes, len(data))
            self.skip_bytes -= n
            out.append(("junk", (n, 0, False)))
            data = data[n:]
        if self.skip_line and data:
            i = data.find(b"\n")
            out.append(_junk(data if i < 0 else data[: i + 1]))
            if i < 0:
                return out
            self.skip_line = False
            data = data[i + 1 :]
        if not data and not final:
            return out
        self.buf += data
        # cheap exits: a partial line needs a newline, a partial body needs its length
        if not final and self.need_nl and b"\n" not in data and len(self.buf) <= MAX_PARTIAL:
            return out
        if not final and self.need_len and len(self.buf) < self.need_len:
            return out
        self.need_nl = False
        self.need_len = 0
        out.extend(self._drain(final))
        return out

    def _drain(self, final: bool) -> list[Frame]:
        out: list[Frame] = []
        buf = self.buf
        pos = 0
        while True:
            if self.body_len or self.chunked:
                done = self._body(pos, final, out)
                if done < 0:
                    break
                pos = done
                continue
            m = _WS.match(buf, pos)
            pos = m.end() if m else pos
            if pos >= len(buf):
                break
            c = buf[pos]
            if c in b"{[":
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if len(buf) - pos > MAX_PARTIAL:
                        out.append(_junk(bytes(buf[pos:])))
                        self.skip_line = not final
                        pos = len(buf)
                    elif final:
                        out.append(("json", bytes(buf[pos:])))
                        pos = len(buf)
                    else:
                        self.need_nl = True
                    break
                if nl - pos > MAX_PARTIAL:
                    out.append(_junk(bytes(buf[pos : nl + 1])))
                else:
                    out.append(("json", bytes(buf[pos:nl])))
                pos = nl + 1
                continue
            rest = bytes(buf[pos : pos + 8])
            if rest.startswith(_HTTP_TOKENS):
                done = self._head(pos, final, out)
                if done < 0:
                    break
                pos = done
                continue
            if not final and len(buf) - pos < 8 and any(t.startswith(rest) for t in _HTTP_TOKENS):
                self.need_len = len(buf) - pos + 1  # could still become an HTTP head
                break
            nl = buf.find(b"\n", pos)
            end = len(buf) if nl < 0 else nl + 1
            out.append(_junk(bytes(buf[pos:end])))
            if nl < 0 and not final:
                self.skip_line = True
            pos = end
        del buf[:pos]
        return out

    def _head(self, pos: int, final: bool, out: list[Frame]) -> int:
        """Frame one HTTP head at pos and note the body to expect; its end, or -1 to wait."""
        buf = self.buf
        ends = [i for i in (buf.find(b"\r\n\r\n", pos), buf.find(b"\n\n", pos)) if i >= 0]
        if not ends:
            if len(buf) - pos > MAX_HEAD or final:
                out.append(("junk", (len(buf) - pos, 0, False)))
                self.skip_line = not final
                return len(buf)
            self.need_nl = True
            return -1
        he = min(ends)
        body_at = he + (4 if buf[he : he + 4] == b"\r\n\r\n" else 2)
        if he - pos > MAX_HEAD:
            out.append(("junk", (body_at - pos, 0, False)))
            return body_at
        head = _parse_head(bytes(buf[pos:he]))
        out.append(("http", head))
        hd = head.headers
        length_text = hd.get("content-length", "")
        if "chunked" in hd.get("transfer-encoding", "").lower():
            self.chunked = True
        elif length_text.isdigit() and len(length_text) < 12:
            self.body_len = int(length_text)
        # otherwise no body, or one delimited by the connection's close: read that as lines
        return body_at

    def _body(self, pos: int, final: bool, out: list[Frame]) -> int:
        """The awaited HTTP body at pos; its end, or -1 to wait for more bytes."""
        buf = self.buf
        probe = pos
        if self.chunked:  # look past the first chunk-size line
            nl = buf.find(b"\n", pos)
            probe = nl + 1 if nl >= 0 else len(buf)
        m = _WS.match(buf, probe)
        first = m.end() if m else probe
        if first < len(buf) and buf[first] not in b"{[":
            # not JSON: say so from its first bytes and discard the rest unbuffered
            out.append(("body", bytes(buf[first : first + 256])))
            if self.chunked:
                self.chunked = False
                self.skip_line = not final  # chunk framing is lost; resynchronise on lines
                return len(buf)
            end = min(len(buf), pos + self.body_len)
            self.skip_bytes = 0 if final else self.body_len - (end - pos)
            self.body_len = 0
            return end
        if self.chunked:
            got = _dechunk(buf, pos)
            if got is None:
                if final or len(buf) - pos > MAX_PARTIAL:
                    self.chunked = False
                    out.append(("junk", (len(buf) - pos, 0, False)))
                    self.skip_line = not final
                    return len(buf)
                self.need_nl = True
                return -1
            self.chunked = False
            body, end = got
            self._json_body(body, out)
            return end
        if self.body_len > MAX_PARTIAL:
            have = min(self.body_len, len(buf) - pos)
            out.append(("junk", (have, 0, False)))
            self.skip_bytes = 0 if final else self.body_len - have
            self.body_len = 0
            return pos + have
        if len(buf) - pos < self.body_len:
            if final:
                self.body_len = 0
                self._json_body(bytes(buf[pos:]), out)
                return len(buf)
            self.need_len = self.body_len  # relative to pos, which becomes the buffer start
            return -1
        end = pos + self.body_len
        self.body_len = 0
        self._json_body(bytes(buf[pos:end]), out)
        return end

    @staticmethod
    def _json_body(body: bytes | None, out: list[Frame]) -> None:
        if body is None:
            out.append(("junk", (0, 0, False)))
            return
        out.extend(("json", line) for line in body.split(b"\n") if line.strip())


def decode_json(text: bytes) -> list[dict[str, Any]] | None:
    """The JSON objects in one JSON text (an object, a batch array, or objects back to back).

    None if it is not JSON at all. orjson first; the standard library as fallback for what orjson
    refuses (integers beyond 64 bits, NaN, concatenated objects).
    """
    try:
        value = orjson.loads(text)
        values = [value]
    except orjson.JSONDecodeError:
        values = []
        try:
            s = text.decode("utf-8", "replace")
            decoder = json.JSONDecoder()
            i = 0
            while i < len(s) and len(values) < 64:
                value, i = decoder.raw_decode(s, i)
                values.append(value)
                while i < len(s) and s[i] in " \t\r\n":
                    i += 1
        except (ValueError, RecursionError):
            pass
        if not values:
            return None
    out: list[dict[str, Any]] = []
    for v in values:
        if isinstance(v, dict):
            out.append(v)
        elif isinstance(v, list):
            out.extend(x for x in v[:64] if isinstance(x, dict))
    return out


def parse_messages(data: bytes) -> list[dict[str, Any]]:
    """All JSON-RPC objects in a byte string (lines, HTTP bodies), in order; junk is skipped."""
    out: list[dict[str, Any]] = []
    for kind, value in Framer().push(bytes(data), final=True):
        if kind == "json":
            out.extend(decode_json(value) or [])
    return out


# --------------------------------------------------------------------------------------------------
# Value helpers
# --------------------------------------------------------------------------------------------------

def _num(x: Any) -> float | None:
    """A finite positive number from a JSON number or decimal string."""
    if isinstance(x, bool):
        return None
    if isinstance(x, str) and 0 < len(x) <= 32:
        try:
            x = float(x)
        except ValueError:
            return None
    if isinstance(x, int | float):
        try:
            v = float(x)
        except OverflowError:
            return None
        if math.isfinite(v) and v > 0:
            return v
    return None


def _hex(x: Any, min_len: int = 1, max_len: int = 80) -> str | None:
    """The hex digits of a hex string (0x prefix allowed), or None."""
    if isinstance(x, str) and len(x) <= max_len + 2 and _HEX.fullmatch(x):
        digits = x[2:] if x[:2] in ("0x", "0X") else x
        return digits if min_len <= len(digits) <= max_len else None
    return None


def _hex_int(x: Any, max_len: int = 80) -> int | None:
    digits = _hex(x, 1, max_len)
    return int(digits, 16) if digits else None


def cryptonote_difficulty(target: str) -> float | None:
    """CryptoNote pool difficulty from a job target.

    8 hex chars: 4-byte little-endian target, difficulty = 2^32 / target (xmrig ``Job::setTarget``:
    ``0xFFFFFFFFFFFFFFFF / (0xFFFFFFFF / target32)``, i.e. ≈ 2^32/target); 16 hex chars: 8-byte
    little-endian, difficulty = 2^64 / target.
    """
    digits = _hex(target, 8, 16)
    if digits is None or len(digits) not in (8, 16):
        return None
    value = int.from_bytes(bytes.fromhex(digits), "little")
    if value == 0:
        return None
    return (TWO_32 if len(digits) == 8 else 2.0**64) / value


def split_login(login: str) -> tuple[str | None, str | None, str | None]:
    """(wallet, pool account, worker) from a pool login.

    Conventions: ``wallet.worker`` (Stratum, CryptoNote; a 16/64-hex payment id between is skipped),
    ``wallet/worker[/email]`` (ethproxy pools), and a ``+difficulty`` suffix (fixed share difficulty).
    A first part that does not look like an address is a pool account name (``account.worker``, as
    on Slush Pool or F2Pool): it names the miner to the pool operator, but it is no wallet.
    """
    s = login.strip()[:256]
    if not s:
        return None, None, None
    if "/" in s:
        first, _, rest = s.partition("/")
        parts = [first, rest.split("/")[0]] if rest else [first]
    else:
        pieces = s.split(".")
        parts = [pieces[0], *[p for p in pieces[1:] if not _PAYMENT_ID.fullmatch(p)]]
    wallet = _DIFF_SUFFIX.sub("", parts[0])
    worker = _DIFF_SUFFIX.sub("", ".".join(parts[1:])) if len(parts) > 1 else ""
    if not _ADDRESS.fullmatch(wallet):
        return None, wallet or None, worker or None
    return wallet, None, worker or None


def _is_coin_address(wallet: str) -> bool:
    return bool(_MONERO_ADDRESS.fullmatch(wallet) or _COIN_ADDRESS.fullmatch(wallet))


def _host_hint(host: str | None) -> tuple[str, str] | None:
    if not host:
        return None
    for token in re.split(r"[.\-_0-9]+", host.lower()):
        if token in _HOST_COINS:
            return _HOST_COINS[token]
    return None


def _id_key(x: Any) -> Any:
    """A hashable request id, or None when it cannot be matched."""
    if isinstance(x, str):
        return x[:128]
    if isinstance(x, int | float) and not isinstance(x, bool):
        return x
    return None


# --------------------------------------------------------------------------------------------------
# The stream
# --------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Pending:
    method: str
    work: tuple[str, float] | None = None  # a share's (kind, amount), see MiningStream._share


class _Side:
    __slots__ = ("dead", "framer", "good", "junk", "junk_control", "junk_lines")

    def __init__(self) -> None:
        self.framer = Framer()
        self.good = 0  # JSON messages or HTTP heads
        self.junk = 0
        self.junk_control = 0
        self.junk_lines = 0
        self.dead = False


class MiningStream:
    """State for one TCP flow.

    Side 0 = the flow initiator as the engine saw it (may be wrong for captures that start
    mid-session), side 1 = the other end.

    Hash rate (``hashrate``): Σ(expected hashes per share) / elapsed, per algorithm:
      * Stratum (Bitcoin shape) with mining.set_difficulty d: d × 2^32 hashes per share (SHA-256;
        share target = diff-1 target 0x00000000ffff0000…/d, Bitcoin wiki "Difficulty"); Scrypt d × 2^16
        (cgminer / node-stratum-pool convention, see ``DIFF_UNIT``).
      * Equihash stratum with mining.set_target T (256-bit big-endian, ZIP 301): each Equihash solution
        is hashed and compared with T, so 2^256 / T solutions per share: Sol/s (``hps`` is in Sol/s for
        Equihash). The reported share difficulty is powLimit / T with Zcash's powLimit 0x0007ff…ff
        (z-nomp's diff1), so solutions per share ≈ difficulty × 8192. The solutions-per-share figure
        does not depend on that convention; with set_difficulty instead of set_target the 8192 factor is
        an assumption.
      * CryptoNote: difficulty 2^32/target (or 2^64/target) of the job the share was submitted for
        (by job_id; else the job in force); that many hashes per share.
      * ethproxy: 2^256 / boundary of the work the share solves (eth_getWork result [header, seed,
        boundary]; by header, else the work in force). EthereumStratum/1.0.0: set_difficulty d gives
        d × 2^32 hashes (NiceHash EthereumStratum/1.0.0 spec: difficulty as in Bitcoin).
      * getwork: 2^256 / target of the getwork result (little-endian hex); getblocktemplate: its
        big-endian ``target``.
    Shares counted: every submitted share except those the pool rejected for a reason other than
    staleness (invalid, duplicate, low difficulty: no evidence of the work); stale shares are real work,
    and shares whose answer was not captured count too. A share counts only if its difficulty is known.
    elapsed = last counted share − start, where start is the first work the miner received when the
    login (or subscribe/authorize) was seen, else the first message seen (a capture started mid-way).
    No estimate with no share or elapsed ≤ 0. rel_uncertainty = 1/sqrt(shares): share arrivals are
    Poisson, so the count has relative standard deviation 1/sqrt(n) (one sigma).

    ``reported_hashrate``: the mean of the miner's eth_submitHashrate values (method "reported",
    rel_uncertainty = their relative standard deviation).
    """

    def __init__(self) -> None:
        self._sides = (_Side(), _Side())
        self._gave_up = False
        self._strong = 0
        self._weak = 0
        self._messages = 0
        self._http_messages = 0
        self._proto: Counter[str] = Counter()
        self._ethstratum = False
        self._shape: str | None = None  # bitcoin | equihash | ethash: the stratum job shape
        self._votes = [0, 0]  # miner-side votes
        self._methods: dict[str, int] = {}
        self._pending: dict[tuple[int, Any], deque[_Pending]] = {}
        self._n_pending = 0
        # session facts
        self._pool_host: str | None = None
        self._login: str | None = None
        self._eth_worker: str | None = None
        self._rigid: str | None = None
        self._password: str | None = None
        self._agent: str | None = None
        self._login_seen = False
        self._miner_request: str | None = None  # the first lone miner request (its method)
        self._miner_http = False  # an HTTP request with a miner User-Agent or X-Mining-Extensions
        self._monerod = False  # monerod's block-template RPC (Monero solo mining)
        self._monero_rpc = False  # an HTTP request to /json_rpc (monerod's RPC endpoint)
        self._cn_algo: str | None = None
        self._cn_blob_version: int | None = None
        # work and shares
        self._cur: tuple[str, float, float] | None = None  # (kind, amount, difficulty) in force
        self._jobs: dict[Any, tuple[str, float, float]] = {}
        self._first_ts: float | None = None
        self._first_work_ts: float | None = None
        self._last_share_ts: float | None = None
        self._submitted = 0
        self._accepted = 0
        self._rejected = 0
        self._work: dict[str, float] = {"hashes": 0.0, "diff": 0.0}
        self._counted = 0
        self._last_diff: float | None = None
        self._reports = [0, 0.0, 0.0]  # n, Σ, Σ²

    # --- public -----------------------------------------------------------------------------------
    @property
    def is_mining(self) -> bool:
        return self._strong > 0 or self._weak >= 2 or self._miner_request is not None

    @property
    def miner_request(self) -> str | None:
        """The method of the first lone miner request seen (module docstring), or None."""
        return self._miner_request

    @property
    def rests_on_miner_request(self) -> bool:
        """Mining only because of a lone miner request: no work, share or second sign seen."""
        return self._miner_request is not None and self._strong == 0 and self._weak < 2

    @property
    def saw_no_work(self) -> bool:
        """No work, share or pool-side mining answer was seen (the miner asked; nothing came of it)."""
        return self._strong == 0

    @property
    def pool_answered(self) -> bool:
        """The side opposite the miner sent a JSON message or an HTTP head."""
        miner = self.miner_side
        return self._sides[1 - (0 if miner is None else miner)].good > 0

    @property
    def gave_up(self) -> bool:
        return self._gave_up

    @property
    def miner_side(self) -> int | None:
        a, b = self._votes
        if a == b:
            return None
        return 0 if a > b else 1

    def feed(self, side: int, ts: float, data: bytes) -> None:
        """Next in-order payload bytes of one side."""
        if self._gave_up or side not in (0, 1) or not data:
            return
        st = self._sides[side]
        if st.dead:
            return
        for kind, value in st.framer.push(bytes(data)):
            self._frame(side, st, ts, kind, value)
            if self._gave_up or st.dead:
                if st.dead:
                    st.framer = Framer()  # drop whatever it held
                return

    def facts(self) -> MiningFacts | None:
        if not self.is_mining:
            return None
        protocol = self._protocol()
        coin, algorithm = self._coin_algorithm(protocol)
        wallet, account, worker = split_login(self._login) if self._login else (None, None, None)
        worker = worker or self._eth_worker or self._rigid
        return MiningFacts(
            protocol=protocol, coin=coin, algorithm=algorithm, pool_host=self._pool_host,
            wallet=wallet, account=account, login=self._login, worker=worker, password=self._password,
            agent=self._agent,
            methods=dict(self._methods), difficulty=self._last_diff,
            shares_submitted=self._submitted, shares_accepted=self._accepted,
            shares_rejected=self._rejected, login_seen=self._login_seen,
            hashrate=self.hashrate(algorithm), reported_hashrate=self._reported(),
        )

    def hashrate(self, algorithm: str | None) -> HashRate | None:
        """The share-based estimate (formulas in the class docstring)."""
        if algorithm is None or self._counted < 1 or self._last_share_ts is None:
            return None
        start = self._first_ts
        if self._login_seen and self._first_work_ts is not None:
            start = self._first_work_ts
        if start is None:
            return None
        elapsed = self._last_share_ts - start
        if not (math.isfinite(elapsed) and elapsed > 0):
            return None
        work = self._work["hashes"]
        if self._work["diff"]:
            unit = DIFF_UNIT.get(algorithm)
            if unit is None:
                return None
            work += self._work["diff"] * unit
        if not (math.isfinite(work) and work > 0):
            return None
        n = self._counted
        return HashRate(algorithm, work / elapsed, 1.0 / math.sqrt(n), "shares", n)

    # --- frames -----------------------------------------------------------------------------------
    def _frame(self, side: int, st: _Side, ts: float, kind: str, value: Any) -> None:
        if kind == "json":
            msgs = decode_json(value)
            if msgs is None:
                self._junk(st, len(value), 0, True)
                return
            st.good += 1
            for msg in msgs:
                self._message(side, ts, msg)
                if self._gave_up:
                    return
            if not self.is_mining and self._messages >= GIVE_UP_MESSAGES:
                self._gave_up = True
        elif kind == "http":
            st.good += 1
            self._http(side, value)
        elif kind == "body":
            if not self.is_mining:
                self._gave_up = True  # an HTTP body that is not JSON: not a mining exchange
        else:
            self._junk(st, *value)

    def _junk(self, st: _Side, n: int, control: int, line: bool) -> None:
        st.junk += n
        st.junk_control += control
        st.junk_lines += line
        if st.good == 0 and (st.junk_control >= JUNK_BINARY or st.junk >= JUNK_LIMIT
                             or st.junk_lines >= JUNK_LINES):
            st.dead = True
            if not self.is_mining:
                self._gave_up = True

    def _http(self, side: int, head: HttpHead) -> None:
        if not self.is_mining and self._http_messages >= 1 and self._strong == 0 and self._weak == 0:
            self._gave_up = True  # a whole HTTP exchange without any mining sign
            return
        self._http_messages += 1
        hd = head.headers
        if head.status == 101 or "upgrade" in hd:
            if not self.is_mining:
                self._gave_up = True  # websocket or other upgrade
            return
        if head.is_request:
            # Monero's daemon (and wallet) RPC endpoint: a block submitted there is a Monero block
            self._monero_rpc = self._monero_rpc or head.target.split("?", 1)[0] == "/json_rpc"
            host = hd.get("host", "").strip().lower()
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            if host and self._pool_host is None and _HOST.fullmatch(host):
                self._pool_host = host[:253]
            agent = hd.get("user-agent")
            if agent:
                self._agent = self._agent or agent[:128]
                if _MINER_AGENT.search(agent):
                    self._weak += 1
                    self._miner_http = True
            if "x-mining-extensions" in hd:
                self._weak += 1
                self._miner_http = True
            auth = hd.get("authorization", "")
            if auth[:6].lower() == "basic ":
                try:
                    decoded = base64.b64decode(auth[6:].strip()[:512]).decode("latin-1")
                    user, _, password = decoded.partition(":")
                except (binascii.Error, ValueError):
                    user, password = "", ""
                if user:
                    self._login = self._login or user
                    self._password = self._password or password
        elif "x-stratum" in hd or "x-long-polling" in hd:
            self._weak += 1

    # --- messages ---------------------------------------------------------------------------------
    def _message(self, side: int, ts: float, msg: dict[str, Any]) -> None:
        self._messages += 1
        if self._first_ts is None:
            self._first_ts = ts
        method = msg.get("method")
        if isinstance(method, str):
            name = method[:64]
            if name in self._methods or len(self._methods) < MAX_METHODS:
                self._methods[name] = self._methods.get(name, 0) + 1
            handler = _HANDLERS.get(method)
            pending = handler(self, side, ts, msg, msg.get("params")) if handler else None
            key = _id_key(msg.get("id"))
            if pending is not None and key is not None and self._n_pending < MAX_PENDING:
                self._pending.setdefault((side, key), deque()).append(pending)
                self._n_pending += 1
        elif "result" in msg or "error" in msg or msg.keys() == {"id", "jsonrpc"}:
            # EthereumStratum/2.0.0 acknowledges a share with the short form {"id", "jsonrpc"}
            self._response(side, ts, msg)

    def _vote(self, miner: int) -> None:
        self._votes[miner] += 1

    def _lone(self, method: str) -> None:
        """A lone miner request was seen (module docstring)."""
        self._miner_request = self._miner_request or method

    def _response(self, side: int, ts: float, msg: dict[str, Any]) -> None:
        key = _id_key(msg.get("id"))
        queue = self._pending.get((1 - side, key)) if key is not None else None
        req: _Pending | None = None
        if queue:
            req = queue.popleft()
            self._n_pending -= 1
            if not queue:
                del self._pending[(1 - side, key)]
        result, error = msg.get("result"), msg.get("error")
        if req is None:
            # an unsolicited result: ethproxy pushes new work as {"id":0,"result":[header,seed,boundary]}
            self._work_result(side, ts, result) or self._login_result(side, ts, result)
            return
        if req.method == "share":
            if error is not None or result is False:
                self._rejected += 1
                if req.work is not None and not _STALE.search(_error_text(error)):
                    self._work[req.work[0]] -= req.work[1]
                    self._counted -= 1
            elif result is not None or "result" not in msg:  # a result, or the short-form acknowledgement
                self._accepted += 1
        elif req.method == "work":
            self._work_result(side, ts, result)
        elif req.method == "login":
            self._login_result(side, ts, result)
        elif req.method in ("hello", "subscribe") and isinstance(result, dict) \
                and str(result.get("proto", "")).startswith("EthereumStratum/"):
            self._strong += 1  # EthereumStratum/2.0.0 hello answer: {proto, encoding, resume, timeout, …}
            self._vote(1 - side)
        elif req.method == "subscribe" and isinstance(result, list) and len(result) >= 2:
            if isinstance(result[0], list) or _hex(result[1], 2, 64):
                self._strong += 1
                self._vote(1 - side)
            if any(isinstance(x, str) and x.startswith("EthereumStratum/") for x in _flat(result)):
                self._ethstratum = True

    def _work_result(self, side: int, ts: float, result: Any) -> bool:
        """eth_getWork / getwork / getblocktemplate results: new work for the miner."""
        if isinstance(result, list) and len(result) >= 3:
            header, seed, boundary = result[0], result[1], _hex_int(result[2], 66)
            if _hex(header, 64, 64) and _hex(seed, 64, 64) and boundary:
                amount = TWO_256 / boundary
                self._new_work(side, ts, "ethproxy", ("hashes", amount, amount), header.lower())
                return True
        if isinstance(result, dict):
            data, target = _hex(result.get("data"), 152, 512), _hex(result.get("target"), 64, 64)
            if data and target:
                t = int.from_bytes(bytes.fromhex(target), "little")  # getwork targets are little-endian
                if t:
                    amount = TWO_256 / t
                    self._new_work(side, ts, "getwork", ("hashes", amount, amount / TWO_32), None)
                    return True
            blob = _hex(result.get("blockhashing_blob"), 76, 1024)
            template_diff = _num(result.get("difficulty"))
            if blob and template_diff and _hex(result.get("blocktemplate_blob"), 76, 8_000_000):
                # monerod: difficulty is the expected hashes per block found
                self._monerod = True
                self._cn_blob_version = int(blob[:2], 16)
                self._new_work(side, ts, "getblocktemplate", ("hashes", template_diff, template_diff), None)
                return True
            if _hex(result.get("previousblockhash"), 64, 64) and ("bits" in result or "target" in result):
                t = _hex_int(result.get("target"), 64) or 0
                work = ("hashes", TWO_256 / t, TWO_256 / t / TWO_32) if t else None
                self._new_work(side, ts, "getblocktemplate", work, None)
                return True
        return False

    def _login_result(self, side: int, ts: float, result: Any) -> bool:
        if isinstance(result, dict) and isinstance(result.get("job"), dict):
            return self._cn_job(side, ts, result["job"])
        return False

    def _new_work(self, side: int, ts: float, proto: str, work: tuple[str, float, float] | None,
                  job: Any) -> None:
        self._strong += 1
        self._vote(1 - side)
        self._proto[proto] += 1
        if self._first_work_ts is None:
            self._first_work_ts = ts
        if work is not None:
            self._cur = work
            if job is not None:
                self._remember(job, work)

    def _remember(self, job: Any, work: tuple[str, float, float]) -> None:
        if len(self._jobs) >= MAX_JOBS:
            del self._jobs[next(iter(self._jobs))]
        self._jobs[job] = work

    def _share(self, side: int, ts: float, proto: str, job: Any = None) -> _Pending:
        """A share submitted by ``side``: counts it and books its expected work."""
        self._strong += 1
        self._vote(side)
        self._proto[proto] += 1
        self._submitted += 1
        work = self._jobs.get(job, self._cur) if isinstance(job, str | int) else self._cur
        booked: tuple[str, float] | None = None
        if work is not None:
            kind, amount, diff = work
            self._work[kind] += amount
            self._counted += 1
            self._last_diff = diff
            self._last_share_ts = ts
            booked = (kind, amount)
        return _Pending("share", booked)

    # --- Stratum v1 -------------------------------------------------------------------------------
    def _subscribe(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if isinstance(params, dict):  # EthereumStratum/2.0.0: {agent, host, port, session}
            return self._es2_open(side, "mining.subscribe", params, "subscribe")
        if not isinstance(params, list):
            return None
        self._weak += 1
        self._vote(side)
        self._proto["stratum"] += 1
        self._login_seen = True
        if params and isinstance(params[0], str):
            self._agent = self._agent or params[0][:128]
            if _MINER_AGENT.search(params[0][:128]):
                self._lone("mining.subscribe")
        if any(isinstance(p, str) and p.startswith("EthereumStratum/") for p in params):
            self._ethstratum = True
        if len(params) >= 3 and isinstance(params[2], str) and _HOST.fullmatch(params[2]):
            self._pool_host = self._pool_host or params[2].lower()
        return _Pending("subscribe")

    def _authorize(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if not (isinstance(params, list) and params and isinstance(params[0], str)):
            return None
        self._weak += 1
        self._vote(side)
        self._proto["stratum"] += 1
        self._login_seen = True
        self._login = params[0][:256]
        if len(params) > 1 and isinstance(params[1], str):
            self._password = params[1][:128]
        wallet = split_login(self._login)[0]
        if wallet and _is_coin_address(wallet):  # a worker named by its payout address
            self._lone("mining.authorize")
        return _Pending("authorize")

    def _submit(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if not (isinstance(params, list) and 3 <= len(params) <= 8 and isinstance(params[0], str)):
            return None
        es2 = self._ethstratum and len(params) == 3 and bool(_hex(params[1], 16, 16)) and isinstance(params[2], str)
        if not es2 and not all(_hex(p, 1, 4096) for p in params[2:] if not isinstance(p, bool)):
            return None
        if self._shape is None:
            if len(params) == 3:
                self._shape = "ethash"
            elif len(params) >= 5 and isinstance(params[4], str) and len(params[4]) > 1000:
                self._shape = "equihash"
            elif len(params) in (5, 6):
                self._shape = "bitcoin"
        if es2:
            return self._share(side, ts, "stratum", params[0])
        if self._login is None:
            self._login = params[0][:256]
        return self._share(side, ts, "stratum", params[1])

    def _notify(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if not (isinstance(params, list) and len(params) >= 3 and isinstance(params[0], str | int)):
            return None
        if len(params) >= 9 and isinstance(params[4], list) and _hex(params[1], 64, 64):
            self._shape = "bitcoin"
        elif len(params) >= 8 and _hex(params[1], 8, 8) and all(_hex(p, 64, 64) for p in params[2:4]):
            self._shape = "equihash"
        elif len(params) == 4 and _hex(params[1], 64, 64) and _hex(params[2], 64, 64):
            self._shape = "ethash"
            self._ethstratum = True
        elif self._ethstratum and len(params) == 3 and _hex(params[1], 64, 64) and isinstance(params[2], bool):
            self._shape = "ethash"  # EthereumStratum/2.0.0: job, header hash, clean
        else:
            self._weak += 1
            self._vote(1 - side)
            return None
        self._new_work(side, ts, "stratum", None, None)
        return None

    def _set_difficulty(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        d = _num(params[0]) if isinstance(params, list) and params else None
        if d is None:
            return None
        self._weak += 1
        self._vote(1 - side)
        self._proto["stratum"] += 1
        self._cur = ("diff", d, d)
        return None

    def _set_target(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        t = _hex_int(params[0], 64) if isinstance(params, list) and params else None
        if not t:
            return None
        self._strong += 1
        self._vote(1 - side)
        self._proto["stratum"] += 1
        self._cur = ("hashes", TWO_256 / t, ZCASH_POW_LIMIT / t)
        return None

    def _miner_notice(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        """extranonce.subscribe, suggest_difficulty, get_transactions, configure: from the miner."""
        if isinstance(params, list):
            self._weak += 1
            self._vote(side)
            self._proto["stratum"] += 1
        return None

    def _pool_notice(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        """set_extranonce, client.reconnect, client.show_message, mining.reconnect: from the pool."""
        if isinstance(params, list) or (isinstance(params, dict) and "host" in params):
            self._weak += 1
            self._vote(1 - side)
            self._proto["stratum"] += 1
        return None

    # --- EthereumStratum/2.0.0 (Lanfranchi et al.: objects for params, short tokens) ---------------
    def _es2_open(self, side: int, method: str, params: dict[str, Any], pending: str) -> _Pending | None:
        """mining.hello / mining.subscribe with {agent, host, port, proto | session}: from the miner."""
        agent, proto = params.get("agent"), params.get("proto")
        if not isinstance(agent, str) and not (isinstance(proto, str) and proto.startswith("EthereumStratum/")):
            return None
        self._weak += 1
        self._vote(side)
        self._proto["stratum"] += 1
        self._ethstratum = True
        self._login_seen = True
        if isinstance(agent, str):
            self._agent = self._agent or agent[:128]
        host = params.get("host")
        if isinstance(host, str) and _HOST.fullmatch(host):
            self._pool_host = self._pool_host or host.lower()
        if (isinstance(proto, str) and proto.startswith("EthereumStratum/")) or \
                (isinstance(agent, str) and _MINER_AGENT.search(agent[:128])):
            self._lone(method)
        return _Pending(pending)

    def _hello(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        return self._es2_open(side, "mining.hello", params, "hello") if isinstance(params, dict) else None

    def _set(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        """mining.set {epoch, seed, target, algo, extranonce}: the pool sets what changes rarely."""
        if not (isinstance(params, dict) and ({"target", "seed", "epoch"} & params.keys())):
            return None
        self._weak += 1
        self._vote(1 - side)
        self._proto["stratum"] += 1
        self._ethstratum = True
        t = _hex_int(params.get("target"), 64)
        if t:
            self._cur = ("hashes", TWO_256 / t, TWO_256 / t / TWO_32)
        return None

    # --- CryptoNote -------------------------------------------------------------------------------
    def _cn_login(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if not (isinstance(params, dict) and isinstance(params.get("login"), str)):
            return None
        self._weak += 1
        self._vote(side)
        self._proto["cryptonote"] += 1
        self._login_seen = True
        self._login = params["login"][:256]
        if isinstance(params.get("pass"), str):
            self._password = params["pass"][:128]
        if isinstance(params.get("agent"), str):
            self._agent = params["agent"][:128]
        if isinstance(params.get("rigid"), str) and params["rigid"]:
            self._rigid = params["rigid"][:64]
        algo = params.get("algo")
        if isinstance(algo, list) and len(algo) == 1 and isinstance(algo[0], str):
            self._cn_algo = self._cn_algo or algo[0][:32]
        agent = params.get("agent")
        wallet = split_login(self._login)[0] if self._login.strip() else None
        # a miner's agent with a login, or a coin address as the login (Claymore's CryptoNote miner sends
        # no agent): nobody but a miner logs in so
        if (wallet and _is_coin_address(wallet)) or \
                (self._login.strip() and isinstance(agent, str) and _MINER_AGENT.search(agent[:128])):
            self._lone("login")
        return _Pending("login")

    def _cn_job(self, side: int, ts: float, job: dict[str, Any]) -> bool:
        blob = _hex(job.get("blob"), 76, 1024)
        target = job.get("target")
        diff = cryptonote_difficulty(target) if isinstance(target, str) else None
        if not blob or diff is None:
            return False
        if isinstance(job.get("algo"), str):
            self._cn_algo = job["algo"][:32]
        self._cn_blob_version = int(blob[:2], 16)
        job_id = job.get("job_id")
        job_key = job_id if isinstance(job_id, str) else None
        self._new_work(side, ts, "cryptonote", ("hashes", diff, diff), job_key)
        return True

    def _job(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if isinstance(params, dict):
            self._cn_job(side, ts, params)
        return None

    def _cn_submit(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if not (isinstance(params, dict) and "job_id" in params and _hex(params.get("nonce"), 8, 16)):
            return None
        return self._share(side, ts, "cryptonote", params.get("job_id"))

    def _keepalived(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if isinstance(params, dict) and "id" in params:
            self._weak += 1
            self._vote(side)
            self._proto["cryptonote"] += 1
        return None

    # --- Ethereum ---------------------------------------------------------------------------------
    def _eth_login(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if not (isinstance(params, list) and params and isinstance(params[0], str)):
            return None
        self._weak += 1
        self._vote(side)
        self._proto["ethproxy"] += 1
        self._login_seen = True
        self._login = params[0][:256]
        if len(params) > 1 and isinstance(params[1], str):
            self._password = params[1][:128]
        worker = msg.get("worker")
        if isinstance(worker, str) and worker:
            self._eth_worker = worker[:64]
        wallet = split_login(self._login)[0]
        if wallet and re.fullmatch(r"0x[0-9a-fA-F]{40}", wallet):
            self._lone("eth_submitLogin")
        return None

    def _eth_get_work(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if params not in (None, []):
            return None
        self._weak += 1
        self._vote(side)
        self._proto["ethproxy"] += 1
        return _Pending("work")

    def _eth_submit_work(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if not (isinstance(params, list) and len(params) == 3 and _hex(params[0], 16, 16)
                and _hex(params[1], 64, 64) and _hex(params[2], 64, 64)):
            return None
        return self._share(side, ts, "ethproxy", params[1].lower())

    def _eth_hashrate(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        rate = _hex_int(params[0], 32) if isinstance(params, list) and params else None
        if rate is None:
            return None
        self._weak += 1
        self._vote(side)
        self._proto["ethproxy"] += 1
        self._reports[0] += 1
        self._reports[1] += rate
        self._reports[2] += float(rate) ** 2
        return None

    # --- getwork / getblocktemplate ---------------------------------------------------------------
    def _getwork(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if isinstance(params, list) and params and _hex(params[0], 152, 512):
            return self._share(side, ts, "getwork")
        if params in (None, []):
            self._weak += 1
            self._vote(side)
            self._proto["getwork"] += 1
            if self._miner_http:
                self._lone("getwork")
            return _Pending("work")
        return None

    def _getblocktemplate(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        if isinstance(params, dict):  # monerod's alias of get_block_template
            return self._monerod_template(side, ts, msg, params)
        if params in (None, []) or (isinstance(params, list) and isinstance(params[0], dict)):
            self._weak += 1
            self._vote(side)
            self._proto["getblocktemplate"] += 1
            request = params[0] if params else {}
            # BIP 22/23: a template request names what the miner can do
            if isinstance(request.get("capabilities"), list) or isinstance(request.get("rules"), list) \
                    or self._miner_http:
                self._lone("getblocktemplate")
            return _Pending("work")
        return None

    def _monerod_template(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        """monerod ``get_block_template``: {wallet_address, reserve_size}; only a miner asks for one."""
        if not isinstance(params, dict):
            return None
        wallet = params.get("wallet_address")
        if not (isinstance(wallet, str) and _MONERO_ADDRESS.fullmatch(wallet)):
            return None
        self._weak += 1
        self._vote(side)
        self._proto["getblocktemplate"] += 1
        self._monerod = True
        self._login = self._login or wallet
        self._lone(str(msg.get("method"))[:32])
        return _Pending("work")

    def _submitblock(self, side: int, ts: float, msg: dict[str, Any], params: Any) -> _Pending | None:
        blob = _hex(params[0], 160, 8_000_000) if isinstance(params, list) and params else None
        if not blob:
            return None
        if self._monero_rpc:  # monerod submit_block/submitblock: the blob starts with the block's major version
            self._monerod = True
            self._cn_blob_version = self._cn_blob_version or int(blob[:2], 16)
        return self._share(side, ts, "getblocktemplate")

    # --- facts ------------------------------------------------------------------------------------
    def _protocol(self) -> str:
        if not self._proto:
            return "getwork" if self._http_messages else "stratum"
        top = self._proto.most_common(1)[0][0]
        if top == "stratum" and (self._ethstratum or self._shape == "ethash"):
            return "ethereum_stratum"
        return top

    def _coin_algorithm(self, protocol: str) -> tuple[str | None, str | None]:
        hint = _host_hint(self._pool_host)
        coin: str | None = None
        algorithm: str | None = None
        if protocol in ("ethproxy", "ethereum_stratum"):
            algorithm, coin = "Ethash", "Ethereum"
        elif protocol == "cryptonote":
            algo = (self._cn_algo or "").lower()
            algorithm = next((name for prefix, name in _CN_ALGOS if algo.startswith(prefix)), None)
            if algo and algorithm is None:
                algorithm = self._cn_algo  # an explicit name we do not map
            coin = _CN_COINS.get(algo)
            wallet = split_login(self._login)[0] if self._login else None
            if coin is None and wallet and _MONERO_ADDRESS.fullmatch(wallet):
                coin = "Monero"
            if algorithm is None and self._agent and "xmr-stak-cpu" in self._agent.lower():
                algorithm = "CryptoNight"
            if algorithm is None and coin == "Monero" and self._cn_blob_version is not None:
                algorithm = "RandomX" if self._cn_blob_version >= 12 else "CryptoNight"
            if hint and hint[1] == "CryptoNote":
                coin = coin or hint[0]
            return coin, algorithm
        elif protocol == "stratum":
            if self._shape == "equihash":
                algorithm = "Equihash"
            elif self._shape == "bitcoin":
                algorithm = "Scrypt" if hint and hint[1] == "Scrypt" else "SHA-256"
        elif protocol == "getblocktemplate" and self._monerod:
            coin = "Monero"
            if self._cn_blob_version is not None:
                algorithm = "RandomX" if self._cn_blob_version >= 12 else "CryptoNight"
            return coin, algorithm
        elif protocol in ("getwork", "getblocktemplate"):
            algorithm = "Scrypt" if hint and hint[1] == "Scrypt" else "SHA-256"
        if hint and hint[1] == algorithm:
            coin = hint[0]
        return coin, algorithm

    def _reported(self) -> HashRate | None:
        n, total, squares = self._reports
        if n == 0 or total <= 0:
            return None
        mean = total / n
        var = max(0.0, squares / n - mean * mean)
        rel = math.sqrt(var) / mean if n > 1 else 0.0
        return HashRate("Ethash", mean, rel if math.isfinite(rel) else 0.0, "reported", 0)


def _error_text(error: Any) -> str:
    """The words of a JSON-RPC error: a string, [code, message, …] or {"code", "message"}."""
    if isinstance(error, dict):
        error = error.get("message")
    if isinstance(error, list):
        return " ".join(e for e in error[:4] if isinstance(e, str))[:256]
    return error[:256] if isinstance(error, str) else ""


def _flat(x: Any, depth: int = 0) -> list[Any]:
    """Scalars of a nested list, a few levels deep (subscribe results)."""
    if isinstance(x, list) and depth < 4:
        return [y for item in x[:32] for y in _flat(item, depth + 1)]
    return [x]


_HANDLERS = {
    "mining.subscribe": MiningStream._subscribe,
    "mining.authorize": MiningStream._authorize,
    "mining.submit": MiningStream._submit,
    "mining.notify": MiningStream._notify,
    "mining.set_difficulty": MiningStream._set_difficulty,
    "mining.set_target": MiningStream._set_target,
    "mining.extranonce.subscribe": MiningStream._miner_notice,
    "mining.suggest_difficulty": MiningStream._miner_notice,
    "mining.suggest_target": MiningStream._miner_notice,
    "mining.get_transactions": MiningStream._miner_notice,
    "mining.configure": MiningStream._miner_notice,
    "mining.set_extranonce": MiningStream._pool_notice,
    "mining.set_version_mask": MiningStream._pool_notice,
    "client.reconnect": MiningStream._pool_notice,
    "client.show_message": MiningStream._pool_notice,
    "client.get_version": MiningStream._pool_notice,
    "mining.hello": MiningStream._hello,
    "mining.set": MiningStream._set,
    "mining.noop": MiningStream._miner_notice,
    "mining.hashrate": MiningStream._miner_notice,
    "mining.reconnect": MiningStream._pool_notice,
    "login": MiningStream._cn_login,
    "job": MiningStream._job,
    "submit": MiningStream._cn_submit,
    "keepalived": MiningStream._keepalived,
    "eth_submitLogin": MiningStream._eth_login,
    "eth_getWork": MiningStream._eth_get_work,
    "eth_submitWork": MiningStream._eth_submit_work,
    "eth_submitHashrate": MiningStream._eth_hashrate,
    "getwork": MiningStream._getwork,
    "getblocktemplate": MiningStream._getblocktemplate,
    "submitblock": MiningStream._submitblock,
    "get_block_template": MiningStream._monerod_template,
    "submit_block": MiningStream._submitblock,
}
