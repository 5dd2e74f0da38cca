#!/usr/bin/env bash
# Debian packages the console and its tests use: PostgreSQL (multi-user store), Chromium (browser
# tests drive it through Playwright; Playwright never downloads a browser here), Noto CJK fonts and
# Pango (weasyprint renders the Chinese rectification notice), poppler-utils (PDF pages to PNG),
# nfdump and softflowd (real NetFlow/IPFIX and nfdump CSV for the flow-log reader tests), tshark (the
# mining-protocol tests check the engine against Wireshark's TCP reassembly of the corpus captures),
# libndpi-bin (nDPI's ndpiReader, the peer tool the benchmark smoke test compares against), a Java 17
# runtime (Spark, the distributed engine for flow logs; skipped when some java is on the PATH).
# Installs only what is missing; needs root (or sudo).
set -euo pipefail
PACKAGES=(postgresql chromium fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0
          libfontconfig1 poppler-utils nfdump softflowd tshark libndpi-bin)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing ${missing[*]}"
$SUDO apt-get update -qq
# tshark would otherwise ask whether non-root users may capture packets (no: the tests read files)
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
