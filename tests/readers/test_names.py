"""File names as text: a name that is not UTF-8 becomes text every store and output can take."""

from __future__ import annotations

import os

import orjson

from minescope.readers.names import path_text

GBK = "挖矿.pcap".encode("gbk")


def test_a_gbk_name_is_escaped_byte_by_byte_and_the_rest_kept() -> None:
    name = os.fsdecode("/data/抓包/".encode() + GBK)  # what Python makes of it on Linux
    text = path_text(name)
    assert text == "/data/抓包/\\xcd\\xda\\xbf\\xf3.pcap"
    orjson.dumps(text)  # refuses the surrogates of ``name``
    assert path_text(text) == text  # applying it twice changes nothing


def test_the_escapes_give_the_bytes_back_and_keep_two_names_apart() -> None:
    gbk, utf8 = os.fsdecode(GBK), "挖矿.pcap"
    assert path_text(gbk) != path_text(utf8) == utf8
    assert path_text(gbk).encode().decode("unicode_escape").encode("latin-1") == GBK
