"""File names as text: the one place where a path becomes the text that findings, summaries, problem
lines, the store and every output carry.

On Linux a file name is bytes. Python gives a name that is not UTF-8 (a GBK name from a Windows
share, say the bytes of 挖矿.pcap in GBK) as text with lone surrogates ("surrogateescape"), which
UTF-8 cannot encode: SQLite, PostgreSQL, Arrow, orjson and the terminal all refuse it. ``path_text``
keeps every part of a path (between slashes) that is UTF-8 as it is, and writes each byte above
ASCII of a part that is not as ``\\xNN``: ``/data/抓包/`` + GBK ``挖矿.pcap`` → ``/data/抓包/\\xcd\\xda\\xbf\\xf3.pcap``
(a whole part, not only its bad bytes: ``\\xda\\xbf`` happens to be UTF-8 for ``ڿ``, which would be
shown otherwise).

Why escapes and not a guess at GB18030: the text names evidence, so it must name exactly the file on
disk. The escapes give back its bytes, are the same on every machine, and keep two files apart
that a guess would merge (a GBK-named ``挖矿.pcap`` beside a UTF-8 one) or would give a wrong name
(Latin-1 ``résumé`` read as GBK is part Chinese). ``ls`` shows such names escaped too.
"""

from __future__ import annotations

import os


def path_text(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """The path as text that encodes as UTF-8: unchanged when it is UTF-8, else each part that is not
    UTF-8 with its bytes above ASCII written ``\\xNN``. Applying it twice changes nothing."""
    name = os.fspath(path)
    if isinstance(name, bytes):
        raw = name
    else:
        try:
            name.encode("utf-8")
            return name
        except UnicodeEncodeError:
            pass
        try:  # the bytes behind the name, as the file system holds them
            raw = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that stands for no byte: escape it as it is
            return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "/".join(_part_text(part) for part in raw.split(b"/"))


def _part_text(part: bytes) -> str:
    try:
        return part.decode("utf-8")
    except UnicodeDecodeError:
        return part.decode("ascii", "backslashreplace")
