"""Refresh the console's vendored Apache ECharts and China map from the npm registry.

    python tools/vendor_echarts.py                      # echarts@5 and the maps of echarts@4.9.0
    python tools/vendor_echarts.py --echarts 5.6.0      # a given version
    python tools/vendor_echarts.py --from DIR           # tarballs already fetched with `npm pack`

Writes ``src/minescope/web/static/vendor/echarts/`` (echarts.min.js and its licences) and
``src/minescope/web/static/vendor/china-map/`` (one GeoJSON for the country, one per province,
named by the province's two-digit GB/T 2260 code). ECharts 5 no longer ships maps; echarts@4.9.0
(Apache-2.0) was the last release with them. The maps there are in ECharts' compressed form; they are
decoded to plain GeoJSON, simplified (Douglas–Peucker) and rounded to keep the files small.
Run with the project's Python (it uses the bundled GB/T 2260 divisions), then update the READMEs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

from minescope.knowledge.regions import divisions, find_city

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "src" / "minescope" / "web" / "static" / "vendor"
DIGITS = 2  # about 1 km: enough for a province or city outline on screen
TOLERANCE = {"china.json": 0.02, "province": 0.01}  # degrees


def npm_pack(spec: str, into: Path) -> Path:
    out = subprocess.run(["npm", "pack", spec, "--pack-destination", str(into)], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return into / out


def unpack(tgz: Path, into: Path) -> Path:
    with tarfile.open(tgz) as tar:
        tar.extractall(into, filter="data")
    return into / "package"


# --- ECharts' compressed GeoJSON ("UTF8Encoding"), as decoded by its parseGeoJson ----------------
def _ring(text: str, offset: list[int], scale: float) -> list[tuple[float, float]]:
    x, y = offset
    out = []
    for i in range(0, len(text), 2):
        dx, dy = ord(text[i]) - 64, ord(text[i + 1]) - 64
        x += (dx >> 1) ^ -(dx & 1)  # zigzag, then delta
        y += (dy >> 1) ^ -(dy & 1)
        out.append((x / scale, y / scale))
    return out


def polygons(geometry: dict, scale: float | None) -> list[list[list[tuple[float, float]]]]:
    """The geometry as a list of polygons (each a list of rings), decoded if compressed."""
    polys = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    if scale is None:
        return [[[tuple(p) for p in ring] for ring in poly] for poly in polys]
    offsets = geometry["encodeOffsets"] if geometry["type"] == "MultiPolygon" else [geometry["encodeOffsets"]]
    return [[_ring(r, o, scale) for r, o in zip(poly, offs, strict=True)]
            for poly, offs in zip(polys, offsets, strict=True)]


def simplify(points: list[tuple[float, float]], tol: float) -> list[tuple[float, float]]:
    """Douglas–Peucker: drop points closer than ``tol`` to the line through their neighbours."""
    if len(points) < 3:
        return points
    (x0, y0), (x1, y1) = points[0], points[-1]
    dx, dy = x1 - x0, y1 - y0
    norm = (dx * dx + dy * dy) ** 0.5
    far, at = -1.0, 0
    for i in range(1, len(points) - 1):
        px, py = points[i]
        d = abs(dy * (px - x0) - dx * (py - y0)) / norm if norm else ((px - x0) ** 2 + (py - y0) ** 2) ** 0.5
        if d > far:
            far, at = d, i
    if far <= tol:
        return [points[0], points[-1]]
    return simplify(points[: at + 1], tol)[:-1] + simplify(points[at:], tol)


def small_ring(ring: list[tuple[float, float]], tol: float) -> list[list[float]]:
    out: list[list[float]] = []
    for x, y in simplify(ring, tol):
        p = [round(x, DIGITS), round(y, DIGITS)]
        if not out or out[-1] != p:
            out.append(p)
    if len(out) < 4:  # never lose an island: keep it at the source's precision
        out = [[round(x, 3), round(y, 3)] for x, y in ring]
    if out[0] != out[-1]:
        out.append(out[0])
    return out


def shrink(geojson: dict, tol: float) -> dict:
    scale = geojson.get("UTF8Scale", 1024) if geojson.get("UTF8Encoding") else None
    features = []
    for f in geojson["features"]:
        polys = [[small_ring(r, tol) for r in poly] for poly in polygons(f["geometry"], scale)]
        props = {"name": f["properties"]["name"]}
        if "cp" in f["properties"]:  # label position
            props["cp"] = [round(v, DIGITS) for v in f["properties"]["cp"]]
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": "MultiPolygon", "coordinates": polys}})
    return {"type": "FeatureCollection", "features": features}


def province_of(geojson: dict) -> str | None:
    """The two-digit code of the province to whose divisions most of the features' names belong."""
    votes: Counter[str] = Counter()
    provinces = [d for d in divisions().values() if d.level == "province"]
    for f in geojson["features"]:
        for prov in provinces:
            if find_city(prov, f["properties"]["name"]):
                votes[prov.code[:2]] += 1
    best = votes.most_common(1)
    return best[0][0] if best and best[0][1] * 2 >= len(geojson["features"]) else None


def dump(data: dict, path: Path) -> int:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--echarts", default="5", help="echarts version for echarts.min.js (default: latest 5.x)")
    ap.add_argument("--maps", default="4.9.0", help="echarts version whose map/json/ holds the maps")
    ap.add_argument("--from", dest="src", type=Path, help="directory with echarts-*.tgz and zrender-*.tgz")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src = args.src or tmp

        def tarball(name: str, version: str) -> Path:
            found = sorted(src.glob(f"{name}-{version}*.tgz"))
            return found[-1] if found else npm_pack(f"{name}@{version}", tmp)

        lib = unpack(tarball("echarts", args.echarts), tmp / "lib")
        meta = json.loads((lib / "package.json").read_text())
        zr = unpack(tarball("zrender", meta["dependencies"]["zrender"]), tmp / "zr")
        maps = unpack(tarball("echarts", args.maps), tmp / "maps")

        out = STATIC / "echarts"
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(lib / "dist" / "echarts.min.js", out / "echarts.min.js")
        shutil.copy(lib / "LICENSE", out / "LICENSE")
        shutil.copy(lib / "NOTICE", out / "NOTICE")
        shutil.copy(lib / "licenses" / "LICENSE-d3", out / "LICENSE-d3")
        shutil.copy(zr / "LICENSE", out / "LICENSE-zrender")
        print(f"echarts {meta['version']} (zrender {meta['dependencies']['zrender']}) → {out}")

        geo = STATIC / "china-map"
        if geo.exists():
            shutil.rmtree(geo / "province", ignore_errors=True)
        (geo / "province").mkdir(parents=True, exist_ok=True)
        shutil.copy(maps / "LICENSE", geo / "LICENSE")
        shutil.copy(maps / "NOTICE", geo / "NOTICE")
        total = dump(shrink(json.loads((maps / "map/json/china.json").read_text()), TOLERANCE["china.json"]),
                     geo / "china.json")
        for path in sorted((maps / "map/json/province").glob("*.json")):
            data = json.loads(path.read_text())
            code = province_of(data)
            if code is None:
                print(f"{path.name}: no province matches its names, skipped", file=sys.stderr)
                continue
            target = geo / "province" / f"{code}.json"
            if target.exists():
                raise SystemExit(f"{path.name}: province {code} has a map already")
            total += dump(shrink(data, TOLERANCE["province"]), target)
        print(f"maps of echarts {args.maps} → {geo} ({total / 1e6:.2f} MB)")
    print("now update the versions in the README.md files next to them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
