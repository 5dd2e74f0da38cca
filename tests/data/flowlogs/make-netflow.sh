#!/usr/bin/env bash
# Makes the NetFlow v5/v9/IPFIX and nfdump test data from two corpus captures with Debian's
# softflowd (exporter) and nfdump (nfpcapd + nfdump). Run from the repository root; needs
# softflowd, nfdump and dumpcap (wireshark-common), and captures on the loopback interface.
#   bash tests/data/flowlogs/make-netflow.sh
set -euo pipefail
OUT=tests/data/flowlogs/netflow
CAPS=(samples/pcap/mining/ndpi_mining.pcapng samples/pcap/benign/ndpi_stun.pcap)
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A UDP receiver that writes every datagram it gets, back to back (the raw stream format).
cat > "$tmp/recv.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(3)
with open(sys.argv[2], "wb") as out:
    while True:
        try:
            out.write(s.recv(65535))
        except socket.timeout:
            break
PY

export_all() {  # name, port, softflowd options...
  local name=$1 port=$2; shift 2
  dumpcap -q -i lo -f "udp dst port $port" -w "$tmp/$name.pcapng" -a duration:6 2>/dev/null &
  local cap=$!
  python3 "$tmp/recv.py" "$port" "$OUT/$name.bin" &
  local recv=$!
  sleep 2
  for c in "${CAPS[@]}"; do
    softflowd -r "$c" -n "127.0.0.1:$port" -a -p "$tmp/sfd.pid" "$@" >/dev/null 2>&1
  done
  wait $recv $cap
  # plain pcap (not pcapng) keeps the file small and readable by every tool
  editcap -F pcap "$tmp/$name.pcapng" "$OUT/$name.pcap"
}

export_all v5 2055 -v 5
export_all v9 9995 -v 9
export_all ipfix 4739 -v 10
export_all ipfix-biflow 4739 -v 10 -b

# nfdump: nfpcapd turns each capture into nfcapd files; nfdump exports them as CSV, as it prints
# it (header, flows, summary), with times in UTC.
for c in "${CAPS[@]}"; do
  name=$(basename "${c%.*}"); d="$tmp/$name"; mkdir -p "$d"
  nfpcapd -r "$c" -l "$d" >/dev/null 2>&1
  TZ=UTC nfdump -R "$d" -o csv > "$OUT/nfdump-$name.csv"
done
# the mining capture's nfcapd file itself, to test reading nfcapd files through nfdump
cp "$(ls -S "$tmp"/ndpi_mining/nfcapd.* | head -1)" "$OUT/ndpi_mining.nfcapd"
ls -la "$OUT"
