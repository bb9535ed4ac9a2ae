#!/usr/bin/env bash
# Seeds the fuzz corpora from ../shared/samples and the project's own samples (the corpora
# are not committed: the shared captures carry their projects' licences).
set -euo pipefail
cd "$(dirname "$0")"
shared=../../shared/samples
mkdir -p corpus/capture corpus/export_datagram corpus/packet corpus/ruleset
cp "$shared"/pcap/* "$shared"/pcapng/* "$shared"/netflow/* ../samples/*.pcap corpus/capture/
# export_datagram: one frame per raw dump: a kind byte (0 v5, 1 v9, 2 IPFIX, 3 sFlow),
# a 2-byte length, the datagram.
for f in "$shared"/netflow/*.dat; do
  v=$(head -c 2 "$f" | od -An -tu1 | awk '{print $2}')
  case "$v" in 5) k=0 ;; 9) k=1 ;; 10) k=2 ;; *) k=3 ;; esac
  len=$(stat -c %s "$f")
  { printf "\\x$(printf %02x "$k")\\x$(printf %02x $((len >> 8)))\\x$(printf %02x $((len & 255)))"; cat "$f"; } > "corpus/export_datagram/$(basename "$f")"
done
# packet: a link-type selector byte (0 = Ethernet) and the first frames of the sample.
python3 - <<'PY'
import struct
data = open("../samples/ome-city-sample.pcap", "rb").read()
o, n = 24, 0
while o + 16 <= len(data) and n < 64:
    incl = struct.unpack_from("<I", data, o + 8)[0]
    open(f"corpus/packet/ome-{n:03}", "wb").write(b"\x00" + data[o + 16:o + 16 + incl])
    o += 16 + incl
    n += 1
PY
cp ../rulesets/*.toml corpus/ruleset/
echo "seeded: $(ls corpus/capture | wc -l) captures, $(ls corpus/export_datagram | wc -l) datagrams, $(ls corpus/packet | wc -l) packets, $(ls corpus/ruleset | wc -l) rulesets"
