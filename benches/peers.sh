#!/usr/bin/env bash
# Whole-process throughput of flowcli against the tools users would otherwise run, on the
# same file with a warm page cache: packets/s, flowcli's speed relative to each, peak RSS.
#
#   benches/peers.sh                              # 1 M packets, 50 k concurrent flows
#   PACKETS=10000000 FLOWS=50000 benches/peers.sh
#
# The capture is made by `cargo run --release -p flowcore --example gen_imix` (IMIX sizes,
# the three segments and the Internet, VLAN tags, TCP/UDP/ICMP) into target/bench-data/.
# Peers come from Debian packages and are installed if missing. Each command runs 3 times;
# the best wall time counts. tshark runs on a 100 k-packet file (it is much slower).
set -euo pipefail
cd "$(dirname "$0")/.."
PACKETS=${PACKETS:-1000000}
FLOWS=${FLOWS:-50000}
RUNS=${RUNS:-3}

source benches/common.sh
install_missing tcpdump:tcpdump nfpcapd:nfdump softflowd:softflowd argus:argus-server tshark:tshark
build_flowcli
cargo build -q --release -p flowcore --example gen_imix
D=target/bench-data
mkdir -p "$D"
F=$D/imix-$PACKETS-$FLOWS.pcap
SMALL=$D/imix-100000-5000.pcap
[ -s "$F" ] || "$TARGET"/release/examples/gen_imix "$F" "$PACKETS" "$FLOWS"
[ -s "$SMALL" ] || "$TARGET"/release/examples/gen_imix "$SMALL" 100000 5000
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
recache "$F" "$SMALL"

# best NAME PACKETS CMD...: best wall time of RUNS runs (time_best), as packets/s, and the
# peak RSS of that run.
declare -A PPS RSS
best() {
    local name=$1 n=$2
    shift 2
    BEFORE='rm -rf "$T/out" && mkdir -p "$T/out"' time_best "$@"
    PPS[$name]=$(awk "BEGIN{printf \"%.0f\", $n / ($BEST_S > 0 ? $BEST_S : 0.001)}")
    RSS[$name]=$((BEST_RSS / 1024))
    printf '%-34s %8.3f s %12s packets/s %6s MiB\n' "$name" "$BEST_S" "${PPS[$name]}" "${RSS[$name]}" >&2
}

echo "file: $F ($PACKETS packets, $FLOWS concurrent flows, $(du -h "$F" | cut -f1))" >&2
best "cat (the floor)" "$PACKETS" "cat $F > /dev/null"
best "tcpdump -r -w /dev/null" "$PACKETS" "tcpdump -r $F -w /dev/null"
best "nfpcapd -r" "$PACKETS" "nfpcapd -r $F -w $T/out"
best "softflowd -r" "$PACKETS" "softflowd -r $F -n 127.0.0.1:9 -v 9 -d"
best "argus -r" "$PACKETS" "argus -r $F -w $T/out/argus.out"
best "tshark -q -z conv,ip (100 k file)" 100000 "tshark -q -z conv,ip -r $SMALL"
best "flowcli flows" "$PACKETS" "$FLOWCLI flows -q --format ndjson $F"
best "flowcli flows --threads 1" "$PACKETS" "$FLOWCLI flows -q --threads 1 --format ndjson $F"
best "flowcli analyze" "$PACKETS" "$FLOWCLI analyze -q --ruleset rulesets/ome-city.toml --format json $F"
# One core: with one input, the default (every core) hashes the input on a second core.
best "flowcli analyze --threads 1" "$PACKETS" "$FLOWCLI analyze -q --threads 1 --ruleset rulesets/ome-city.toml --format json $F"
# What the SHA-256 of the input costs: the same without it.
best "flowcli analyze --threads 1 --no-digest" "$PACKETS" "$FLOWCLI analyze -q --threads 1 --no-digest --ruleset rulesets/ome-city.toml --format json $F"
best "flowcli analyze (100 k file)" 100000 "$FLOWCLI analyze -q --ruleset rulesets/ome-city.toml --format json $SMALL"

# A night as a directory: 8 captures of 250 k packets, with 1 and 2 threads.
DIR=$D/dir8
mkdir -p "$DIR"
for i in 1 2 3 4 5 6 7 8; do
    [ -s "$DIR/part$i.pcap" ] || "$TARGET"/release/examples/gen_imix "$DIR/part$i.pcap" 250000 20000
done
recache "$DIR"/*
for t in 1 2; do
    best "flowcli flows --threads $t (8 files)" 2000000 "$FLOWCLI flows -q --threads $t --format ndjson $DIR"
    best "flowcli analyze --threads $t (8 files)" 2000000 "$FLOWCLI analyze -q --threads $t --ruleset rulesets/ome-city.toml --format json $DIR"
done
# What the machine gives two busy cores: two independent one-thread processes, 4 files each,
# at once. A virtual machine whose cores share a physical one gets well under 2x here.
HALF1="$DIR/part1.pcap $DIR/part2.pcap $DIR/part3.pcap $DIR/part4.pcap"
HALF2="$DIR/part5.pcap $DIR/part6.pcap $DIR/part7.pcap $DIR/part8.pcap"
for c in flows analyze; do
    args="-q --threads 1 --format $([ $c = flows ] && echo ndjson || echo json)"
    [ $c = analyze ] && args="$args --ruleset rulesets/ome-city.toml"
    best "2 processes flowcli $c --threads 1 (4 files each)" 2000000 \
        "$FLOWCLI $c $args $HALF1 >/dev/null & $FLOWCLI $c $args $HALF2 >/dev/null; wait"
done

echo
echo "| command | packets/s | flowcli analyze is × faster | peak RSS |"
echo "|---|---|---|---|"
for name in "cat (the floor)" "tcpdump -r -w /dev/null" "nfpcapd -r" "softflowd -r" "argus -r" \
    "tshark -q -z conv,ip (100 k file)" "flowcli flows" "flowcli flows --threads 1" "flowcli analyze" \
    "flowcli analyze --threads 1" \
    "flowcli analyze --threads 1 --no-digest"; do
    ratio=$(awk "BEGIN{printf \"%.2f\", ${PPS["flowcli analyze"]} / ${PPS[$name]}}")
    printf '| `%s` | %s | %s | %s MiB |\n' "$name" "${PPS[$name]}" "$ratio" "${RSS[$name]}"
done

echo
echo "| directory of 8 × 250 k packets | 1 thread | 2 threads | speed-up | 2 one-thread processes at once | their speed-up (the machine's ceiling) |"
echo "|---|---|---|---|---|---|"
for c in flows analyze; do
    a=${PPS["flowcli $c --threads 1 (8 files)"]} b=${PPS["flowcli $c --threads 2 (8 files)"]}
    p=${PPS["2 processes flowcli $c --threads 1 (4 files each)"]}
    printf '| `flowcli %s` | %s packets/s | %s packets/s | %s× | %s packets/s | %s× |\n' "$c" "$a" "$b" \
        "$(awk "BEGIN{printf \"%.2f\", $b / $a}")" "$p" "$(awk "BEGIN{printf \"%.2f\", $p / $a}")"
done

# Startup and small files: a 1 kB capture, wall time.
head -c 1024 samples/ome-city-sample.pcap >"$T/small.pcap"
if command -v hyperfine >/dev/null; then
    hyperfine -N -i -w 3 -r 30 --export-markdown "$T/startup.md" \
        "$FLOWCLI analyze -q --ruleset rulesets/ome-city.toml --format json $T/small.pcap" >/dev/null 2>&1 || true
    echo
    sed 's/|.*flowcli analyze[^|]*|/| `flowcli analyze` on a 1 kB capture |/' "$T/startup.md"
fi
