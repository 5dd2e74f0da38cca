"""Accuracy on the bundled corpus, minescope beside nDPI's ndpiReader, judged by ground-truth.json.

    python benchmarks/corpus_eval.py [--corpus samples/pcap] [--no-ndpi] [-o results.json]

For every capture of the corpus it runs ``ndpiReader -i FILE -q -v 2`` (one line per flow) and
minescope (a fresh scanner per file, the same JSON document as ``minescope scan --format json``), and
compares the flows each labels as mining with the ground truth's sessions, taken as unordered
endpoint pairs {(ip, port), (ip, port)}:

- TP: ground-truth sessions the tool labels as mining (at least one labelled flow on that pair);
- FN: ground-truth sessions it does not label;
- FP: labelled flows whose endpoint pair is not a ground-truth session (in benign/ and crypto-node/
  every label is one; in mining/ a label on any other flow is one too).

ndpiReader labels a flow as mining when its protocol (``[proto: 42/Mining]``, also a sub-protocol
such as ``7.42/HTTP.Mining``) or its category (``[cat: Mining/99]``) names Mining. minescope labels
the flows of its ``mining_session`` findings. On crypto-node/ it also counts minescope's
``crypto_node`` findings and what ndpiReader calls those flows.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import CORPUS, RESULTS, ROOT, BenchError, fail, machine_info, require_tools, run

Endpoint = tuple[str, int]
Pair = frozenset[Endpoint]

# "\t1\tTCP 192.168.2.148:46838 <-> 94.23.199.191:3333 [proto: 42/Mining][ClearText]…[cat: Mining/99]…"
# (a one-way flow prints "->" instead of "<->")
_FLOW_LINE = re.compile(r"^\s*\d+\s+(?P<l4>\S+)\s+(?P<a>\S+)\s+<?->\s+(?P<b>\S+)\s+(?P<rest>.*)$")
_PROTO = re.compile(r"\[proto: (?:[\d.]+/)?(?P<name>[^\]]+)\]")
_CATEGORY = re.compile(r"\[cat: (?P<name>[^/\]]+)")


def _endpoint(text: str) -> Endpoint:
    """``1.2.3.4:80`` or ``[2001:db8::1]:443`` → (address, port)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def pair(a: Endpoint, b: Endpoint) -> Pair:
    return frozenset({a, b})


@dataclass(frozen=True)
class NdpiFlow:
    """One flow line of ``ndpiReader -v 2``."""

    l4: str
    a: Endpoint
    b: Endpoint
    proto: str  # e.g. "Mining", "HTTP.Mining", "Unknown"
    category: str  # e.g. "Mining", "Web", "" when not printed

    @property
    def pair(self) -> Pair:
        return pair(self.a, self.b)

    @property
    def is_mining(self) -> bool:
        return "Mining" in self.proto.split(".") or self.category == "Mining"


def parse_ndpi_flows(text: str) -> list[NdpiFlow]:
    """The flow lines of ``ndpiReader -v 2`` output; every other line is ignored."""
    flows = []
    for line in text.splitlines():
        m = _FLOW_LINE.match(line)
        if not m:
            continue
        try:
            a, b = _endpoint(m["a"]), _endpoint(m["b"])
        except ValueError:
            continue
        proto = _PROTO.search(m["rest"])
        cat = _CATEGORY.search(m["rest"])
        flows.append(NdpiFlow(m["l4"], a, b, proto["name"] if proto else "Unknown",
                              cat["name"] if cat else ""))
    return flows


def run_ndpi(path: Path) -> list[NdpiFlow]:
    return parse_ndpi_flows(run(["ndpiReader", "-i", str(path), "-q", "-v", "2"]).stdout)


def truth_pairs(entry: dict[str, Any]) -> set[Pair]:
    return {pair((s["client_ip"], s["client_port"]), (s["server_ip"], s["server_port"]))
            for s in entry["mining_sessions"]}


def _flow_pair(flow: dict[str, Any]) -> Pair:
    return pair((flow["src_ip"], flow["src_port"]), (flow["dst_ip"], flow["dst_port"]))


def minescope_flows(doc: dict[str, Any], kind: str = "mining_session") -> list[Pair]:
    """Endpoint pairs of the flows of every finding of ``kind`` in a scan JSON document."""
    return [_flow_pair(fl) for f in doc["findings"] if f["kind"] == kind for fl in f["flows"]]


class MinescopeRunner:
    """minescope in this process: a fresh scanner per file (the CLI's pool learning would otherwise
    carry from one capture into the next), and the same JSON document the CLI writes."""

    def __init__(self) -> None:
        from minescope.outputs.jsonout import to_json_document
        from minescope.outputs.summary import summarize
        from minescope.pipeline import Scanner

        self._scanner, self._to_json, self._summarize = Scanner, to_json_document, summarize

    def document(self, path: Path) -> dict[str, Any]:
        result = self._scanner().scan([path])
        # through JSON text so the types are exactly what `minescope scan --format json` gives
        return json.loads(json.dumps(self._to_json(result, self._summarize(result)), default=list))


@dataclass
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    fp_pairs: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        self.tp += other.tp
        self.fn += other.fn
        self.fp += other.fp

    def as_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fn": self.fn, "fp": self.fp, "fp_flows": self.fp_pairs}


def score(truth: set[Pair], labelled: list[Pair]) -> Score:
    """TP/FN per ground-truth session; FP per labelled flow outside the ground truth."""
    found = set(labelled)
    extra = [p for p in labelled if p not in truth]
    return Score(tp=len(truth & found), fn=len(truth - found), fp=len(extra),
                 fp_pairs=sorted(_show(p) for p in extra))


def _show(p: Pair) -> str:
    return " <-> ".join(f"{ip}:{port}" for ip, port in sorted(p))


def evaluate_file(rel: str, entry: dict[str, Any], corpus: Path, ms: MinescopeRunner | None,
                  with_ndpi: bool) -> dict[str, Any]:
    path = corpus / rel
    truth = truth_pairs(entry)
    row: dict[str, Any] = {"file": rel, "folder": rel.split("/", 1)[0], "truth_sessions": len(truth)}
    if with_ndpi:
        flows = run_ndpi(path)
        labelled = [f.pair for f in flows if f.is_mining]
        row["ndpi"] = {**score(truth, labelled).as_dict(), "flows": len(flows),
                       "mining_flows": len(labelled),
                       "protocols": dict(Counter(f.proto for f in flows).most_common()),
                       "split_sessions": sum(1 for p in truth if labelled.count(p) > 1)}
    if ms is not None:
        doc = ms.document(path)
        labelled = minescope_flows(doc)
        kinds = Counter(f["kind"] for f in doc["findings"])
        row["minescope"] = {**score(truth, labelled).as_dict(), "flows": doc["scan"]["flows"],
                            "mining_flows": len(labelled), "kinds": dict(kinds),
                            "node_protocols": dict(Counter(f["node_protocol"] for f in doc["findings"]
                                                           if f["kind"] == "crypto_node"))}
    return row


def evaluate(corpus: Path, with_ndpi: bool = True, with_minescope: bool = True,
             only: list[str] | None = None) -> dict[str, Any]:
    """Score every capture named in ``corpus/ground-truth.json`` (or the ``only`` ones)."""
    gt_file = corpus / "ground-truth.json"
    if not gt_file.exists():
        raise BenchError(f"{gt_file}: no ground truth; give the corpus folder with --corpus")
    truth = json.loads(gt_file.read_text())
    names = only if only is not None else sorted(truth)
    missing = [n for n in names if n not in truth or not (corpus / n).exists()]
    if missing:
        raise BenchError(f"not in the corpus or its ground truth: {', '.join(missing[:5])}")
    ms = MinescopeRunner() if with_minescope else None
    rows = [evaluate_file(rel, truth[rel], corpus, ms, with_ndpi) for rel in names]
    return {"files": rows, "totals": totals(rows)}


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"truth_sessions": sum(r["truth_sessions"] for r in rows), "by_folder": {}}
    for tool in ("ndpi", "minescope"):
        if not all(tool in r for r in rows):
            continue
        overall = Score()
        for folder in sorted({r["folder"] for r in rows}):
            s = Score()
            for r in rows:
                if r["folder"] == folder:
                    s.add(Score(r[tool]["tp"], r[tool]["fn"], r[tool]["fp"]))
            out["by_folder"].setdefault(folder, {})[tool] = {"tp": s.tp, "fn": s.fn, "fp": s.fp}
            overall.add(s)
        out[tool] = {"tp": overall.tp, "fn": overall.fn, "fp": overall.fp}
    nodes = [r for r in rows if r["folder"] == "crypto-node"]
    if nodes and all("minescope" in r for r in nodes):
        out["crypto_node_findings"] = sum(r["minescope"]["kinds"].get("crypto_node", 0) for r in nodes)
    if nodes and all("ndpi" in r for r in nodes):
        labels: Counter[str] = Counter()
        for r in nodes:
            labels.update(r["ndpi"]["protocols"])
        out["ndpi_labels_on_crypto_node"] = dict(labels.most_common())
    return out


def _cell(row: dict[str, Any], tool: str) -> str:
    if tool not in row:
        return "–"
    s = row[tool]
    return f"{s['tp']} / {s['fn']} / {s['fp']}"


def _node_cells(row: dict[str, Any]) -> tuple[str, str]:
    if row["folder"] != "crypto-node":
        return "", ""
    nd = ", ".join(f"{k} {v}" for k, v in row["ndpi"]["protocols"].items()) if "ndpi" in row else "–"
    ms = (", ".join(f"{k} {v}" for k, v in row["minescope"]["node_protocols"].items())
          if "minescope" in row else "–")
    return nd, ms or "none"


def markdown(report: dict[str, Any]) -> str:
    lines = ["| capture | truth | ndpiReader TP / FN / FP | minescope TP / FN / FP | "
             "ndpiReader flow labels (crypto-node) | minescope crypto_node |",
             "|---|---:|---:|---:|---|---|"]
    for r in report["files"]:
        nd, ms = _node_cells(r)
        lines.append(f"| {r['file']} | {r['truth_sessions']} | {_cell(r, 'ndpi')} | {_cell(r, 'minescope')} "
                     f"| {nd} | {ms} |")
    t = report["totals"]
    for folder, by_tool in t["by_folder"].items():
        lines.append(f"| **{folder}/ total** | | {_cell(by_tool, 'ndpi')} "
                     f"| {_cell(by_tool, 'minescope')} | | |")
    lines.append(f"| **corpus total** | **{t['truth_sessions']}** | **{_cell(t, 'ndpi')}** "
                 f"| **{_cell(t, 'minescope')}** | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS,
                    help="folder with ground-truth.json (default: %(default)s)")
    ap.add_argument("--no-ndpi", action="store_true", help="score minescope only (ndpiReader not needed)")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "corpus_eval.json",
                    help="JSON results (default: %(default)s)")
    args = ap.parse_args(argv)
    try:
        if not args.no_ndpi:
            require_tools("ndpiReader")
        report = evaluate(args.corpus, with_ndpi=not args.no_ndpi)
    except BenchError as e:
        fail(str(e))
    print(markdown(report))
    t = report["totals"]
    for tool, name in (("ndpi", "ndpiReader"), ("minescope", "minescope")):
        if tool in t:
            print(f"{name}: finds {t[tool]['tp']} of {t['truth_sessions']} sessions, "
                  f"{t[tool]['fp']} mining labels on flows outside the ground truth")
    if "crypto_node_findings" in t:
        print(f"crypto-node/: minescope crypto_node findings {t['crypto_node_findings']}; "
              f"ndpiReader labels there: {t.get('ndpi_labels_on_crypto_node', '–')}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    corpus = str(args.corpus.resolve()).replace(str(ROOT) + "/", "")  # no machine's folders in the results
    args.output.write_text(json.dumps({"machine": machine_info(), "corpus": corpus, **report},
                                      indent=1, ensure_ascii=False) + "\n")
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
