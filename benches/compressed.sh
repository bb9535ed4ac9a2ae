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

need=()
for p in tshark:tshark zstd:zstd; do
    command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi

cargo build -q --release -p flowcli --no-default-features
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build -q --release -p flowcore --example gen_imix
FLOWCLI=$TARGET/release/flowcli
D=target/bench-data
mkdir -p "$D"
F=$D/imix-random-$PACKETS-$FLOWS.pcap
[ -s "$F" ] || "$TARGET"/release/examples/gen_imix "$F" "$PACKETS" "$FLOWS" random
[ -s "$F.gz" ] || gzip -6 -c "$F" > "$F.gz"
[ -s "$F.zst" ] || zstd -q -3 -c "$F" > "$F.zst"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Warm, and cached as a first read from disk caches a file (see peers.sh).
for f in "$F" "$F.gz" "$F.zst"; do dd if="$f" iflag=nocache count=0 status=none; done
cat "$F" "$F.gz" "$F.zst" >/dev/null

# best NAME CMD...: best wall time of RUNS runs and the peak RSS of that run.
best() {
    local name=$1 bt="" brss="" t rss s e
    shift
    for _ in $(seq "$RUNS"); do
        s=$EPOCHREALTIME
        /usr/bin/time -o "$T/time" -f "%M" sh -c "$*" >/dev/null 2>&1 || true
        e=$EPOCHREALTIME
        t=$(awk "BEGIN{printf \"%.4f\", ${e/,/.} - ${s/,/.}}")
        rss=$(tail -n 1 "$T/time")
        if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t brss=$rss; fi
    done
    printf '| %s | %.0f ms | %s packets/s | %s MiB |\n' "$name" "$(awk "BEGIN{print $bt * 1000}")" \
        "$(awk "BEGIN{printf \"%.2f M\", $PACKETS / $bt / 1e6}")" $((brss / 1024))
}

echo "file: $F ($PACKETS packets, $(du -h "$F" | cut -f1); gzip $(du -h "$F.gz" | cut -f1), zstd $(du -h "$F.zst" | cut -f1))"
echo
echo "| command | wall | packets/s | peak RSS |"
echo "|---|---|---|---|"
best "\`zcat\` (the gzip floor)" "zcat $F.gz > /dev/null"
best "\`zstdcat\` (the zstd floor)" "zstdcat $F.zst > /dev/null"
best "\`tshark -q -z conv,ip\`, gzip" "tshark -q -z conv,ip -r $F.gz"
for input in "$F" "$F.gz" "$F.zst"; do
    kind=${input##*.}
    for j in 1 2; do
        best "\`flowcli flows -j $j\`, $kind" "$FLOWCLI flows -q -j $j --format ndjson $input"
        best "\`flowcli analyze -j $j\`, $kind" \
            "$FLOWCLI analyze -q -j $j --ruleset rulesets/ome-city.toml --format json $input"
    done
done
