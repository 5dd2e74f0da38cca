"""Cuts the small real-log samples in this folder out of the shared corpus (../shared/corpus/logs).

    python tests/data/flowlogs/make-subsets.py [CORPUS_LOGS_DIR]

Each sample keeps whole lines of the original, in their original order (Zeek headers included);
MANIFEST.tsv says which lines. Gzip output is written with mtime 0, so it is reproducible.
"""

import gzip
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[3] / "shared" / "corpus" / "logs"


def read_lines(path: Path) -> list[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def write(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(lines)
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(data)
    else:
        path.write_bytes(data)


def zeek_head(lines: list[bytes], rows: int, extra: tuple[int, ...] = ()) -> list[bytes]:
    """Header lines, the first ``rows`` data lines, the data lines numbered in ``extra`` (1-based
    line numbers of the original), and the #close line."""
    out, n = [], 0
    for i, line in enumerate(lines, 1):
        if line.startswith(b"#"):
            if not line.startswith(b"#close"):
                out.append(line)
            continue
        n += 1
        if n <= rows or i in extra:
            out.append(line)
    out.extend(line for line in lines if line.startswith(b"#close"))
    return out


def eve_sample(lines: list[bytes]) -> list[bytes]:
    """Events on pool ports (3333/4444/5555/7777), the TLS event, and the first events of each type."""
    quota = {"flow": 100, "alert": 20, "dns": 60, "http": 15, "tls": 1, "anomaly": 3, "fileinfo": 3}
    pool_ports = {3333, 4444, 5555, 7777}
    out = []
    for line in lines:
        e = json.loads(line)
        t = e.get("event_type")
        if e.get("dest_port") in pool_ports or e.get("src_port") in pool_ports:
            out.append(line)
        elif quota.get(t, 0) > 0:
            quota[t] -= 1
            out.append(line)
    return out


def main() -> None:
    zeek, sur = HERE / "zeek", HERE / "suricata"
    write(sur / "eve-sample.json.gz", eve_sample(read_lines(CORPUS / "slips/test6-malicious.suricata.eve.json")))
    for name in ("conn.log", "json_conn.log", "json_dns.log", "json_ssl.log"):
        shutil.copyfile(CORPUS / "zat" / name, zeek / f"zat-{name}")
    write(zeek / "slips-http.json.log", read_lines(CORPUS / "slips/test9-mixed-zeek-dir/http.log")[:60])
    labelled = read_lines(CORPUS / "slips/test18-ctu-sme-11/conn.log.labeled")
    write(zeek / "ctu-sme-11-conn.log.labeled", zeek_head(labelled, 150))
    shutil.copyfile(CORPUS / "slips/test18-ctu-sme-11/dns.log.labeled", zeek / "ctu-sme-11-dns.log.labeled")
    write(zeek / "wrccdc-dns.log.gz", zeek_head(read_lines(CORPUS / "brim/dns.log.gz"), 300, (27699, 27700)))
    write(zeek / "wrccdc-ssl.log.gz", zeek_head(read_lines(CORPUS / "brim/ssl.log.gz"), 200))
    shutil.copyfile(CORPUS / "brim/notice.log.gz", zeek / "wrccdc-notice.log.gz")


if __name__ == "__main__":
    main()
