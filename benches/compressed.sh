#!/usr/bin/env bash
# Compressed captures (`tcpdump -z gzip` rotations, archived nights): flowcli on the same
# capture plain, gzip'd and zstd'd, with 1 and 2 threads, against the decompressors alone
# (`zcat`, `zstdcat`: the floor for each) and tshark, which reads both.
#
#   benches/compressed.sh                       # 1 M packets, 50 k flows, random payloads
#
# The capture is gen_imix's with pseudo-random payloads (`random`): encrypted traffic, as
# most of a city hall's is, hardly compresses (gzip -6: 89 % of the size), where the
# default zero payloads shrink twelvefold and decompress several times faster than any
# real capture. Best wall time of RUNS runs; packets/s; peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKETS=${PACKETS:-1000000}
FLOWS=${FLOWS:-50000}
RUNS=${RUNS:-3}

source benches/common.sh
install_missing tshark:tshark zstd:zstd
build_flowcli
cargo build -q --release -p flowcore --example gen_imix
D=target/bench-data
mkdir -p "$D"
F=$D/imix-random-$PACKETS-$FLOWS.pcap
[ -s "$F" ] || "$TARGET"/release/examples/gen_imix "$F" "$PACKETS" "$FLOWS" random
[ -s "$F.gz" ] || gzip -6 -c "$F" > "$F.gz"
[ -s "$F.zst" ] || zstd -q -3 -c "$F" > "$F.zst"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
recache "$F" "$F.gz" "$F.zst"

echo "file: $F ($PACKETS packets, $(du -h "$F" | cut -f1); gzip $(du -h "$F.gz" | cut -f1), zstd $(du -h "$F.zst" | cut -f1))"
echo
echo "| command | wall | packets/s | peak RSS |"
echo "|---|---|---|---|"
row "\`zcat\` (the gzip floor)" "$PACKETS" packets "zcat $F.gz > /dev/null"
row "\`zstdcat\` (the zstd floor)" "$PACKETS" packets "zstdcat $F.zst > /dev/null"
row "\`tshark -q -z conv,ip\`, gzip" "$PACKETS" packets "tshark -q -z conv,ip -r $F.gz"
for input in "$F" "$F.gz" "$F.zst"; do
    kind=${input##*.}
    for j in 1 2; do
        row "\`flowcli flows -j $j\`, $kind" "$PACKETS" packets "$FLOWCLI flows -q -j $j --format ndjson $input"
        row "\`flowcli analyze -j $j\`, $kind" "$PACKETS" packets \
            "$FLOWCLI analyze -q -j $j --ruleset rulesets/ome-city.toml --format json $input"
    done
done
