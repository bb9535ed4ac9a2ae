#!/usr/bin/env bash
# Seeds the fuzz corpora from ../shared/samples and the project's own samples (the corpora
# are not committed: the shared captures carry their projects' licences).
set -euo pipefail
cd "$(dirname "$0")"
shared=../../shared/samples
mkdir -p corpus/capture corpus/threaded corpus/hashed corpus/judged corpus/export_datagram corpus/packet corpus/ruleset
cp "$shared"/pcap/* "$shared"/pcapng/* "$shared"/netflow/* ../samples/*.pcap corpus/capture/
cp corpus/capture/* corpus/threaded/
cp corpus/capture/* corpus/hashed/
# Compressed inputs (whole, and cut inside the compressed stream): read through the
# decompressing helper thread or not (`hashed`), and every path of `capture`.
for z in "gzip -c" "zstd -q -c"; do
  ext=${z%% *}
  $z ../samples/ome-city-sample.pcap > "corpus/hashed/sample.$ext"
  head -c $(( $(stat -c %s "corpus/hashed/sample.$ext") / 2 )) "corpus/hashed/sample.$ext" > "corpus/hashed/sample-cut.$ext"
  cp "corpus/hashed/sample.$ext" "corpus/hashed/sample-cut.$ext" corpus/capture/
done
cp corpus/capture/* corpus/judged/
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
# flowlog: a header-selector byte and lines in each format (the nfdump CSV of the sample,
# made by the real nfpcapd/nfdump, when they are installed).
mkdir -p corpus/flowlog
printf '\x011300475168.853899\tC1\t141.142.220.118\t43927\t141.142.2.2\t53\tudp\t0.000435\t1\t66\t1\t117\tDd\n' > corpus/flowlog/zeek
printf '\x03{"event_type":"flow","src_ip":"10.3.20.15","src_port":50000,"dest_ip":"10.1.5.5","dest_port":445,"proto":"TCP","flow":{"pkts_toserver":5,"pkts_toclient":4,"bytes_toserver":600,"bytes_toclient":900,"start":"2026-11-25T00:00:00.500000+0900","end":"2026-11-25T00:00:10.000000+0900"},"tcp":{"tcp_flags_ts":"1b","tcp_flags_tc":"1a"},"vlan":[20]}\n' > corpus/flowlog/eve
# Odd JSON lines: numbers as strings, repeated and escaped keys, non-flow events, a cut line.
printf '\x03{"event_type":"flow","src_ip":"10.1.1.1","src_ip":"10.2.2.2","src_port":"50000","dest_ip":"10.3.1.1","dest_port":445.0,"proto":"006","flow":{"start":1764000000.25,"pkts_toserver":"7","bytes_toserver":-3},"vlan":["20"]}\n{"event_type":"dns","src_ip":5}\n{"dest\\u005fip":"10.1.5.5","event_type":"flow","flow":null}\n{"event_type":"flow","src_ip":"10.1\n' > corpus/flowlog/eve-odd
printf '\x02{"ts":"1300475168.5","id.orig_h":"10.1.1.1","id.orig_p":"53","id.resp_h":"10.2.2.2","id.resp_p":53,"proto":"udp","duration":1e-7,"orig_pkts":3.7,"history":5,"vlan":"30"}\n{"ts":1300475168,"id.orig_h":7}\n' > corpus/flowlog/zeek-odd
printf '\x05172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070\n' > corpus/flowlog/vpc
if command -v nfpcapd >/dev/null && command -v nfdump >/dev/null; then
  d=$(mktemp -d)
  nfpcapd -r ../samples/ome-city-sample.pcap -w "$d" >/dev/null 2>&1
  { printf '\x00'; TZ=UTC nfdump -R "$d" -o csv | tail -n +2; } > corpus/flowlog/nfdump
  rm -rf "$d"
fi
echo "seeded: $(ls corpus/capture | wc -l) captures, $(ls corpus/export_datagram | wc -l) datagrams, $(ls corpus/packet | wc -l) packets, $(ls corpus/ruleset | wc -l) rulesets, $(ls corpus/flowlog | wc -l) flow logs"
