"""Speed and memory of `minescope scan` beside nDPI's ndpiReader, on the same large capture, same run.

    python benchmarks/capture_speed.py [--packets 1000000] [--runs 3] [--rebuild]

1. Builds benchmarks/work/corpus-xN.pcap (reused when it is there with enough packets): every
   capture of samples/pcap converted to pcap (editcap -F pcap), concatenated (mergecap -a) and
   stripped of Ethernet trailer padding into base.pcap (see strip_ethernet_padding); then N
   copies of it, copy 0 as is and copy K with its addresses rewritten (tcprewrite --seed=K
   --fixcsum) so that the copies' flows are distinct; then the copies concatenated,
   N = ceil(--packets / packets of base.pcap).
2. Runs minescope once as a warm-up with an empty numba cache (this is the cold-start time: it
   includes compiling the packet decoder), then `ndpiReader -i FILE -q -v 0` and
   `minescope scan FILE --no-store --format json -o …` alternately, --runs times each, measuring
   wall time and peak RSS (/usr/bin/time -f '%e %M' when present, else getrusage in a fresh
   subprocess). The timed minescope runs use the numba cache the warm-up filled.
3. Counts the flows each tool labels as mining: ndpiReader in one extra untimed run with -v 2 (its
   flow lines and its "Detected protocols" summary line), minescope from the warm-up run's JSON.
4. Prints a markdown table and writes benchmarks/results/capture_speed.json with machine facts.

ndpiReader's -q only silences printing: it still reads every packet, runs DPI on every flow and the
end-of-capture protocol guessing; -v 0 prints no flow lines.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    CORPUS,
    RESULTS,
    ROOT,
    WORK,
    BenchError,
    fail,
    machine_info,
    minescope_command,
    require_tools,
    run,
    source_stamp,
)
from corpus_eval import parse_ndpi_flows, truth_pairs

TIME_BIN = Path("/usr/bin/time")
NUMBA_CACHE = WORK / "numba-cache"
TARGET_RATIO = 3.0  # maintainers' target: minescope's wall time ≤ 3× ndpiReader's
TARGET_RSS_MB = 500.0  # and its peak memory < 500 MB


# ---------------------------------------------------------------- building the capture

def packet_count(path: Path) -> int:
    out = run(["capinfos", "-M", "-T", "-r", "-c", str(path)]).stdout.strip()
    return int(out.split("\t")[-1])


def corpus_captures(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.suffix in {".pcap", ".pcapng"} and p.is_file())


def build_base(corpus: Path) -> Path:
    """All corpus captures as pcap, concatenated in name order."""
    conv = WORK / "pcap"
    conv.mkdir(parents=True, exist_ok=True)
    parts = []
    for src in corpus_captures(corpus):
        dst = conv / (str(src.relative_to(corpus)).replace("/", "__").rsplit(".", 1)[0] + ".pcap")
        run(["editcap", "-F", "pcap", str(src), str(dst)])
        parts.append(str(dst))
    if not parts:
        raise BenchError(f"{corpus}: no .pcap/.pcapng files; give the corpus folder with --corpus")
    merged, base = WORK / "merged.pcap", WORK / "base.pcap"
    run(["mergecap", "-a", "-F", "pcap", "-w", str(merged), *parts])
    strip_ethernet_padding(merged, base)
    merged.unlink()
    return base


def _frame_len(pkt: bytes) -> int | None:
    """Bytes of an Ethernet frame up to the end of its IP packet (None: not IP, or malformed)."""
    off, etype = 14, int.from_bytes(pkt[12:14], "big") if len(pkt) >= 14 else 0
    while etype in (0x8100, 0x88A8) and len(pkt) >= off + 4:  # VLAN tags
        etype, off = int.from_bytes(pkt[off + 2 : off + 4], "big"), off + 4
    if etype == 0x0800 and len(pkt) >= off + 20:
        total = int.from_bytes(pkt[off + 2 : off + 4], "big")
        return off + total if total >= 20 else None
    if etype == 0x86DD and len(pkt) >= off + 40:
        return off + 40 + int.from_bytes(pkt[off + 4 : off + 6], "big")
    return None


def strip_ethernet_padding(src: Path, dst: Path) -> int:
    """Copy a pcap (Ethernet) without the padding after each IP packet; returns frames changed.

    tcprewrite 4.4.1–4.4.4 (Debian bookworm has 4.4.3) rewrites the IP total length of padded
    frames to cover the Ethernet padding (appneta/tcpreplay#844, #845; fixed by --fixhdrlen in
    #846), so a 60-byte SYN-ACK gains 2 bytes of "payload". Without padding there is nothing for it
    to change.
    """
    data = src.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    if struct.unpack_from(endian + "I", data, 20)[0] & 0xFFFF != 1:  # not Ethernet: leave it
        dst.write_bytes(data)
        return 0
    out, off, changed = [data[:24]], 24, 0
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from(endian + "IIII", data, off)
        pkt = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        keep = _frame_len(pkt)
        if keep is not None and keep < len(pkt):
            orig -= len(pkt) - keep
            pkt = pkt[:keep]
            changed += 1
        out += [struct.pack(endian + "IIII", sec, frac, len(pkt), orig), pkt]
    dst.write_bytes(b"".join(out))
    return changed


def build_capture(corpus: Path, packets: int, rebuild: bool) -> tuple[Path, int, int]:
    """The big capture, its packet count and the number of copies in it."""
    WORK.mkdir(parents=True, exist_ok=True)
    base = WORK / "base.pcap"
    if rebuild or not base.exists():
        print("building base.pcap from the corpus …", file=sys.stderr)
        base = build_base(corpus)
    per_copy = packet_count(base)
    copies = max(1, math.ceil(packets / per_copy))
    big = WORK / f"corpus-x{copies}.pcap"
    if big.exists() and not rebuild:
        have = packet_count(big)
        if have >= packets:
            print(f"reusing {big} ({have:,} packets)", file=sys.stderr)
            return big, have, copies
    print(f"building {big.name}: {copies} copies × {per_copy:,} packets …", file=sys.stderr)
    parts = [base]
    for k in range(1, copies):
        out = WORK / f"copy-{k}.pcap"
        run(["tcprewrite", f"--seed={k}", "--fixcsum", "-i", str(base), "-o", str(out)])
        parts.append(out)
    run(["mergecap", "-a", "-F", "pcap", "-w", str(big), *map(str, parts)])
    for p in parts[1:]:
        p.unlink()
    return big, packet_count(big), copies


# ---------------------------------------------------------------- measuring

_RUSAGE_HELPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "w = time.perf_counter() - t\n"
    "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n"
)


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB (1 MB = 2**20 bytes) of one run of ``cmd``."""
    if TIME_BIN.exists():
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            t0 = time.perf_counter()
            proc = subprocess.run([str(TIME_BIN), "-f", "%e %M", "-o", tf.name, *cmd], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
            wall = time.perf_counter() - t0
            last = tf.read().strip().splitlines()[-1]
        if proc.returncode != 0:
            raise BenchError(f"`{' '.join(cmd[:2])} …` exited {proc.returncode}: "
                             f"{(proc.stderr.strip().splitlines() or [''])[-1]}")
        return wall, int(last.split()[1]) / 1024
    # no /usr/bin/time (Debian package `time`): getrusage of a fresh helper's only child
    out = run([sys.executable, "-c", _RUSAGE_HELPER, *cmd], env=env).stdout.split()
    if out[2] != "0":
        raise BenchError(f"`{' '.join(cmd[:2])} …` exited {out[2]}")
    return float(out[0]), int(out[1]) / 1024


def ndpi_mining_labels(capture: Path) -> dict[str, Any]:
    """One untimed `ndpiReader -v 2` run: its flow lines and its own summary line."""
    out = run(["ndpiReader", "-i", str(capture), "-v", "2"]).stdout
    flows = parse_ndpi_flows(out)
    summary = re.search(r"^\s*Mining\s+packets:\s*\d+\s+bytes:\s*\d+\s+flows:\s*(\d+)", out, re.M)
    unique = re.search(r"Unique flows:\s*(\d+)", out)
    return {"flows_listed": len(flows), "mining_flows_listed": sum(f.is_mining for f in flows),
            "summary_mining_flows": int(summary.group(1)) if summary else 0,
            "unique_flows": int(unique.group(1)) if unique else None}


def minescope_mining_labels(doc: dict[str, Any]) -> dict[str, Any]:
    sessions = [f for f in doc["findings"] if f["kind"] == "mining_session"]
    return {"flows": doc["scan"]["flows"], "mining_session_findings": len(sessions),
            "mining_session_flows": sum(len(f["flows"]) for f in sessions),
            "findings_by_kind": {k: sum(f["kind"] == k for f in doc["findings"])
                                 for k in sorted({f["kind"] for f in doc["findings"]})}}


def reported_and_stored(capture: Path, minescope: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One scan into a fresh SQLite store: every finding reported must be kept, each under its own id."""
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp:
        db, out = Path(tmp) / "bench.db", Path(tmp) / "scan.json"
        run([*minescope, "scan", str(capture), "--db", str(db), "--format", "json", "-o", str(out)], env=env)
        ids = [f["id"] for f in json.loads(out.read_text())["findings"]]
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM findings").fetchone()[0]
    return {"reported": len(ids), "distinct_ids": len(set(ids)), "stored": stored,
            "all_kept": len(ids) == len(set(ids)) == stored}


def truth_per_copy(corpus: Path) -> tuple[int, int]:
    """Ground-truth sessions in one copy of the corpus, and their distinct endpoint pairs."""
    gt = json.loads((corpus / "ground-truth.json").read_text())
    sessions = sum(len(e["mining_sessions"]) for e in gt.values())
    return sessions, len(set().union(*(truth_pairs(e) for e in gt.values())))


# ---------------------------------------------------------------- report

def summarise(runs: list[tuple[float, float]], packets: int) -> dict[str, Any]:
    wall = statistics.median(w for w, _ in runs)
    return {"runs": [{"wall_s": round(w, 3), "peak_rss_mb": round(m, 1)} for w, m in runs],
            "median_wall_s": round(wall, 3), "packets_per_s": round(packets / wall),
            "peak_rss_mb": round(max(m for _, m in runs), 1)}


def markdown(res: dict[str, Any]) -> str:
    nd, ms = res["ndpiReader"], res["minescope"]
    rows = ["| tool | median wall s | packets/s | peak RSS MB | flows labelled mining |",
            "|---|---:|---:|---:|---:|"]
    nd_mining = res["labels"]["ndpiReader"]["summary_mining_flows"]
    rows.append(f"| ndpiReader {res['machine']['ndpi']} `-q -v 0` | {nd['median_wall_s']:.2f} | "
                f"{nd['packets_per_s']:,} | {nd['peak_rss_mb']:.0f} | {nd_mining:,} |")
    rows.append(f"| minescope {res['machine']['minescope']} `scan --no-store --format json` | "
                f"{ms['median_wall_s']:.2f} | {ms['packets_per_s']:,} | {ms['peak_rss_mb']:.0f} | "
                f"{res['labels']['minescope']['mining_session_flows']:,} |")
    rows.append(f"| **minescope / ndpiReader** | **{res['ratio_wall']:.2f}×** | | "
                f"**{res['ratio_rss']:.1f}×** | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000,
                    help="at least this many packets (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each tool (default %(default)s)")
    ap.add_argument("--corpus", type=Path, default=CORPUS,
                    help="captures to build from (default: %(default)s)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the capture even if it is there")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "capture_speed.json",
                    help="JSON results (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.packets < 1 or args.runs < 1:
        fail("--packets and --runs must be at least 1")
    try:
        require_tools("ndpiReader", "editcap", "mergecap", "tcprewrite", "capinfos")
        minescope = minescope_command()
        capture, packets, copies = build_capture(args.corpus, args.packets, args.rebuild)
        result = benchmark(capture, packets, copies, args.runs, minescope, args.corpus)
    except BenchError as e:
        fail(str(e))
    print(markdown(result))
    c = result["cold_start"]
    print(f"\ncapture: {capture.name}, {packets:,} packets ({copies} copies of the corpus), "
          f"{result['capture']['bytes'] / 2**20:.0f} MiB; medians of {args.runs} alternating runs each.")
    print(f"warm-up: one minescope run first with an empty numba cache (cold start {c['wall_s']:.2f} s, "
          f"{c['peak_rss_mb']:.0f} MB); the timed runs reuse the compiled code from numba's on-disk cache.")
    lab, tr = result["labels"], result["truth"]
    print(f"mining labels: ndpiReader {lab['ndpiReader']['summary_mining_flows']:,} flows (summary line; "
          f"{lab['ndpiReader']['mining_flows_listed']:,} in its -v 2 flow list), minescope "
          f"{lab['minescope']['mining_session_flows']:,} flows in "
          f"{lab['minescope']['mining_session_findings']:,} mining_session findings; "
          f"ground truth {tr['sessions']:,} sessions "
          f"({tr['distinct_pairs']:,} distinct endpoint pairs).")
    st = result["store"]
    print(f"store: {st['reported']:,} findings reported, {st['distinct_ids']:,} distinct ids, {st['stored']:,} "
          f"stored: {'all kept' if st['all_kept'] else 'NOT all kept'}.")
    t = result["targets"]
    print(f"targets: wall ratio {result['ratio_wall']:.3f} ≤ {TARGET_RATIO:g}: "
          f"{'met' if t['wall_ratio_met'] else 'NOT met'}; minescope peak RSS "
          f"{result['minescope']['peak_rss_mb']:.0f} MB < {TARGET_RSS_MB:g} MB: "
          f"{'met' if t['rss_met'] else 'NOT met'}.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"written: {args.output}")


def benchmark(capture: Path, packets: int, copies: int, runs: int, minescope: list[str],
              corpus: Path) -> dict[str, Any]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(NUMBA_CACHE)}
    json_out = WORK / "minescope-scan.json"
    ms_cmd = [*minescope, "scan", str(capture), "--no-store", "--format", "json", "-o", str(json_out)]
    nd_cmd = ["ndpiReader", "-i", str(capture), "-q", "-v", "0"]

    stamp = source_stamp()
    shutil.rmtree(NUMBA_CACHE, ignore_errors=True)
    print("warm-up: minescope with an empty numba cache (cold start) …", file=sys.stderr)
    cold = measure(ms_cmd, env)
    ms_labels = minescope_mining_labels(json.loads(json_out.read_text()))

    nd_runs, ms_runs = [], []
    for i in range(runs):
        print(f"run {i + 1}/{runs}: ndpiReader, minescope …", file=sys.stderr)
        nd_runs.append(measure(nd_cmd))
        ms_runs.append(measure(ms_cmd, env))
    print("untimed: ndpiReader -v 2 for its mining labels …", file=sys.stderr)
    nd_labels = ndpi_mining_labels(capture)
    print("untimed: minescope into a store, to compare what it reports with what it keeps …", file=sys.stderr)
    stored = reported_and_stored(capture, minescope, env)

    changed = source_stamp() != stamp
    if changed:
        print("warning: src/ changed during the benchmark (numba recompiled in a timed run); run again",
              file=sys.stderr)
    nd, ms = summarise(nd_runs, packets), summarise(ms_runs, packets)
    sessions, pairs = truth_per_copy(corpus)
    ratio_wall = ms["median_wall_s"] / nd["median_wall_s"]
    return {
        "machine": machine_info(),
        "capture": {"path": _shown(capture), "packets": packets, "bytes": capture.stat().st_size,
                    "copies": copies},
        "commands": {"ndpiReader": " ".join(map(_shown, nd_cmd)), "minescope": " ".join(map(_shown, ms_cmd)),
                     "measured_with": "/usr/bin/time -f '%e %M'" if TIME_BIN.exists() else "getrusage"},
        "cold_start": {"wall_s": round(cold[0], 3), "peak_rss_mb": round(cold[1], 1)},
        "source_changed_during_run": changed,
        "ndpiReader": nd, "minescope": ms,
        "ratio_wall": round(ratio_wall, 3),
        "ratio_rss": round(ms["peak_rss_mb"] / nd["peak_rss_mb"], 3),
        "labels": {"ndpiReader": nd_labels, "minescope": ms_labels},
        "store": stored,
        "truth": {"sessions": sessions * copies, "distinct_pairs": pairs * copies,
                  "per_copy_sessions": sessions, "per_copy_distinct_pairs": pairs},
        "targets": {"wall_ratio_max": TARGET_RATIO, "rss_mb_max": TARGET_RSS_MB,
                    "wall_ratio_met": ratio_wall <= TARGET_RATIO,
                    "rss_met": ms["peak_rss_mb"] < TARGET_RSS_MB},
    }


def _shown(part: object) -> str:
    """A path as the results file shows it: relative to the repository, so no machine's folders are in it."""
    text = str(part)
    return text.replace(str(ROOT) + "/", "") if text.startswith(str(ROOT)) else text


if __name__ == "__main__":
    main()

