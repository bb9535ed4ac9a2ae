#!/usr/bin/env bash
# Whole-process throughput of `flowcli analyze` on flow exports as a collector records them:
# a pcap of NetFlow v5, v9 or IPFIX datagrams (UDP to port 2055), read, decoded, turned into
# flow records, attributed, judged and reported as JSON, with the input's SHA-256.
#
#   benches/exports-cli.sh                 # 3 M records per format
#   RECORDS=10000000 RUNS=5 benches/exports-cli.sh
#
# The captures are made by `cargo run --release -p flowcore --example gen_exports` (the
# datagrams of benches/exports.rs) into target/bench-data/. Each run is timed as a whole
# process with a warm page cache; the best of RUNS counts. `-j 1` is one core.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-3000000}
RUNS=${RUNS:-3}

# The measured path does not use polars (see peers.sh).
cargo build -q --release -p flowcli --no-default-features
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build -q --release -p flowcore --example gen_exports
FLOWCLI=$TARGET/release/flowcli
D=target/bench-data
mkdir -p "$D"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

printf '%-7s %-16s %9s %14s %8s\n' format command "best (s)" "records/s" "RSS MiB"
for k in v5 v9 ipfix; do
    F=$D/exports-$k-$RECORDS.pcap
    [ -s "$F" ] || "$TARGET"/release/examples/gen_exports "$k" "$RECORDS" "$F"
    cat "$F" >/dev/null
    for j in 1 2; do
        bt="" brss=""
        for _ in $(seq "$RUNS"); do
            # Exit status 1 means findings (the datagrams carry violations), 2 an error.
            rc=0
            /usr/bin/time -o "$T/time" -f "%e %M" "$FLOWCLI" analyze -j "$j" \
                --ruleset rulesets/example-site.toml --format json "$F" >"$T/out" 2>"$T/err" || rc=$?
            [ "$rc" -le 1 ] || { cat "$T/err" >&2; exit 1; }
            read -r t rss < <(tail -n 1 "$T/time")
            if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t brss=$rss; fi
        done
        # The run must have judged every record.
        grep -q "$RECORDS flows judged" "$T/err" || { cat "$T/err" >&2; exit 1; }
        printf '%-7s %-16s %9.3f %14.0f %8d\n' "$k" "analyze -j $j" "$bt" \
            "$(awk "BEGIN{print $RECORDS / ($bt > 0 ? $bt : 0.001)}")" $((brss / 1024))
    done
done
