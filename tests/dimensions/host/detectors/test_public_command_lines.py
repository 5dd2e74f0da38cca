"""The Sigma rules on command lines found in public code and text, not written from the miners' docs.

tests/data/host/public_miner_command_lines.tsv: miner command lines as found in Dockerfiles, Kubernetes manifests,
launch scripts, batch files, READMEs and a threat report (each row names its repository at a commit, or its page,
and the licence that lets it be copied here). tests/data/host/public_benign_command_lines.tsv: real command lines
that look near mining (hash tools, benchmarks, thread pools, -o outputs, containers, the steps around a miner that
are not the miner) from tldr-pages (CC-BY-4.0) and the same repositories. A line counts as found when ``detect``
makes a finding of it, i.e. a rule of level high or critical matched.

The files hold the line only. The executable is taken from it as a process log would show it: the first word
after the wrappers that run another program (sudo, nohup, env, start, cmd /c, screen …); a relative name is
put under a home folder, a Windows one (backslash, .exe, .bat) under a user folder. Each line is also tried
with no executable at all, as in logs that keep the command line only.
"""

from __future__ import annotations

import csv
import re
from pathlib import PurePath
from typing import Any

import pyarrow as pa
import pytest

from helpers import DATA, table
from minescope.dimensions.host.detectors import sigma
from minescope.dimensions.host.tables import PROCESSES

# Lines no rule is meant to catch, each with why.
EXCEPTED = {
    "nheqmine.exe -l zec.coinmine.pl:7007 -u feeleep.1 -p x -t 6":
        "a typo in nheqminer's README (the program is nheqminer.exe): no miner's name, and -l host:port with -u "
        "alone is too common to call mining",
}

# Near misses of the rules that read a miner's name in the command line, not in the executable.
HARD_NEGATIVES = [
    "git clone https://github.com/xmrig/xmrig.git && cd xmrig && mkdir build",
    "ps aux | grep xmrig",
    "pkill -f xmrig",
    "chmod +x ./xmrig",
    "docker pull metal3d/xmrig",
    "docker logs xmrig",
    "docker run --rm -it alpine:3.19 cat /etc/xmrig/config.json",
    "tar xf xmrig.tar.gz -C $HOME/moneroocean",
    "cp xmrig /usr/local/bin/",
    "screen -S xmrig",
    "screen -r xmrig",
    "screen -dmS xmrig",
    "tmux new -s xmrig",
    "tmux attach -t xmrig",
    "sudo systemctl restart xmrig",
    "journalctl -u xmrig -f",
    "/docker-entrypoint.sh postgres",
    "gosu postgres postgres",
    "cat docker-entrypoint.sh xmrig.log",
    "kubectl logs --follow -n xmrig xmrig-6d4cf56db6-4lx2p",
]

WRAPPERS = {"sudo", "nohup", "exec", "command", "setsid", "nice", "timeout", "env", "cpulimit", "taskset", "start",
            "call", "cmd", "cmd.exe", "proxychains", "proxychains4"}


def read(name: str) -> list[dict[str, str]]:
    with open(DATA / "host" / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def image_of(line: str) -> str | None:
    """The executable a process log would show for ``line`` (see the module's docstring)."""
    tokens = [a if a is not None else b for a, b in re.findall(r'"([^"]*)"|(\S+)', line)]
    i = 0
    while i < len(tokens):
        word = tokens[i].lower()
        if word in ("screen", "tmux"):  # their options, and the session name some take
            i += 1
            while i < len(tokens) and (tokens[i].startswith("-") or tokens[i] in ("new", "new-session")):
                i += 2 if re.fullmatch(r"-\w*S|-[stcn]", tokens[i]) else 1
        elif word in WRAPPERS or re.fullmatch(r"-\S+|\d+[smhd]?|[A-Z_]+=\S*", tokens[i]):
            i += 1
        else:
            break
    if i >= len(tokens):
        return None
    word = tokens[i].strip("'\"")
    if "\\" in word or word.lower().endswith((".exe", ".bat")):
        word = word.replace("/", "\\")
        return word if re.match(r"^[A-Za-z]:\\", word) else "C:\\Users\\alice\\miner\\" + word.split("\\")[-1]
    return word if word.startswith("/") else "/home/alice/" + word.lstrip("./")


def processes(rows: list[dict[str, Any]]) -> pa.Table:
    out = []
    for i, r in enumerate(rows):
        image = r.get("image")
        out.append({"ts": 1_795_000_000.0 + i, "host": f"host{i}", "event": "sysmon:1", "pid": 1000 + i, "ppid": 1,
                    "user": "alice", "image": image, "name": PurePath((image or "").replace("\\", "/")).name.lower()
                    or None, "command_line": r["command_line"], "parent_image": r.get("parent_image") or None,
                    "original_name": None, "input": "sysmon.evtx"})
    return table(PROCESSES, out)


def test_the_public_files_name_their_source_and_a_licence_that_lets_them_be_copied() -> None:
    miners, benign = read("public_miner_command_lines.tsv"), read("public_benign_command_lines.tsv")
    assert len(miners) >= 60 and len(benign) >= 150
    allowed = ("MIT", "GPL-2.0", "GPL-3.0", "BSD-3-Clause", "Apache-2.0", "CC-BY-4.0", "quotation")
    for r in miners + benign:
        assert r["source"] and r["licence"].startswith(allowed), r
    lines = [r["command_line"] for r in miners]
    assert len(set(lines)) == len(lines) and set(EXCEPTED) <= set(lines)


@pytest.mark.parametrize("with_image", [True, False], ids=["executable", "command-line-only"])
def test_every_public_miner_line_is_a_finding(with_image: bool) -> None:
    rows = read("public_miner_command_lines.tsv")
    found = sigma.detect({"processes": processes([{"image": image_of(r["command_line"]) if with_image else None,
                                                    "command_line": r["command_line"]} for r in rows])})
    hit = {int(f.subject.value.removeprefix("host")) for f in found}
    missed = [r["command_line"] for i, r in enumerate(rows) if i not in hit]
    recall = len(hit) / len(rows)
    assert set(missed) == set(EXCEPTED), f"recall {len(hit)}/{len(rows)} = {recall:.3f}; missed: {missed}"


def test_no_rule_matches_public_benign_lines() -> None:
    public = [r["command_line"] for r in read("public_benign_command_lines.tsv")] + HARD_NEGATIVES
    rows = [{"image": image_of(line), "command_line": line} for line in public]
    rows += [{"image": None, "command_line": line} for line in public]
    rows += [{"image": r["image"], "parent_image": r["parent_image"], "command_line": r["command_line"]}
             for r in read("benign_command_lines.tsv")]
    found = sigma.match_tables({"processes": processes(rows)})
    assert [(m.title, m.command_line) for m in found] == []


@pytest.mark.parametrize(("line", "pool", "wallet"), [
    ("ccminer -a scrypt:10 -o stratum+tcp://stratum.nicehash.com:3335 -u 3EujYFcoBzWvpUEvbe3obEG95mBuU88QBD -p x",
     "stratum.nicehash.com:3335", "3EujYFcoBzWvpUEvbe3obEG95mBuU88QBD"),
    ("docker run --gpus all nbminer -a kawpow -o stratum+ssl://stratum-ravencoin.flypool.org:3443 "
     "-u RDYRroe1hFxpZypKgBJZSjBvP7hyky3G6s", "stratum-ravencoin.flypool.org:3443",
     "RDYRroe1hFxpZypKgBJZSjBvP7hyky3G6s"),
    # solo: -u is the node's RPC user, the coins go to --btc-address
    ("cgminer -o http://localhost:8332 -u username -p password --btc-address 15qSxP1SQcUX3o4nhkfdbgyoWEFMomJ4rZ",
     "localhost:8332", "15qSxP1SQcUX3o4nhkfdbgyoWEFMomJ4rZ"),
    ("nheqminer -l zec.suprnova.cc:2142 -u t1JBZzdaUUSJDs8q7SUxcCSzakThqtNRtNv", "zec.suprnova.cc:2142",
     "t1JBZzdaUUSJDs8q7SUxcCSzakThqtNRtNv"),
    ("ethminer -U -S eu1.ethermine.org:4444 -O 0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d.rig",
     "eu1.ethermine.org:4444", "0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d"),
    ("ethminer -G -F http://eth-eu1.nanopool.org:9999/0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d/rig1",
     "eth-eu1.nanopool.org:9999", "0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d"),
    ("lolMiner --algo ETHASH --pool eth-eu1.nanopool.org --port 9999 --user 0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d",
     "eth-eu1.nanopool.org:9999", "0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d"),
    # placeholders of a how-to or a script are no pool and no login
    ("./cpuminer -a verus -o stratum+tcp://<pool>:<port> -u <wallet>.<worker> -p x", None, None),
    ("./t-rex -a ethash -o stratum+tcp://$SERVER:4444 -u $ETH_ADDRESS -p x -w $WORKER_NAME", None, None),
    ("nbminer -a ethash -o stratum+ssl://%URL% -u %USER%.%WORKER%", None, None),
])
def test_pool_and_wallet_of_public_forms(line: str, pool: str | None, wallet: str | None) -> None:
    args = sigma.parse_miner_args(line)
    assert (args.pool, args.wallet) == (pool, wallet)
    if pool is None:
        assert args.login is None
