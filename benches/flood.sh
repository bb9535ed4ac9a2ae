#!/usr/bin/env bash
# Peak memory under hostile floods: the configured bounds hold whatever the input's size.
#
#   benches/flood.sh            # 1 M and 10 M SYN floods, 1 M template flood
#   N=2000000 benches/flood.sh  # another size for the large SYN flood
#
# The floods come from `cargo run --release -p flowcore --example flood` and are streamed
# through a pipe into `flowcli analyze -` (nothing is written to disk). Peak RSS is GNU
# time's maximum resident set size. Results are in benches/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# The measured paths do not use polars: build flowcli without it (a release polars build
# takes half an hour on two cores). The target directory may be set elsewhere (config).
cargo build -q --release -p flowcli --no-default-features
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build -q --release -p flowcore --example flood
F=$TARGET/release/flowcli
G=$TARGET/release/examples/flood
SITE=rulesets/ome-city.toml
N=${N:-10000000}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# flood KIND COUNT -- flowcli options...: prints one table row.
run() {
    local kind=$1 n=$2
    shift 3
    "$G" "$kind" "$n" |
        /usr/bin/time -o "$T/time" -f "%M %e" "$F" analyze -q --ruleset "$SITE" --format json "$@" - \
            >"$T/report.json" || [ $? -eq 1 ]
    read -r rss_kb secs < <(tail -n 1 "$T/time")
    python3 - "$kind" "$n" "$rss_kb" "$secs" "$*" "$T/report.json" <<'PY'
import json, sys
kind, n, rss_kb, secs, opts, path = sys.argv[1:]
s = json.load(open(path))["summary"]
i, e = s["inputs"][0], s["exports"]
print(f"| {kind} | {int(n):,} | `{opts or '(defaults)'}` | {int(rss_kb)/1024:.0f} MiB | {float(secs):.1f} s "
      f"| {i['flow_table']['peak_flows']:,} | {i['flow_table']['capacity']:,} "
      f"| {s['findings']:,} | {s['findings_overflowed']:,} | {e['templates_refused']:,} |")
PY
}

echo "| flood | size | options | peak RSS | wall | peak flows | evicted (capacity) | findings | overflowed | templates refused |"
echo "|---|---|---|---|---|---|---|---|---|---|"
run syn 1000000 -- --max-flows 100000
run syn "$N" -- --max-flows 100000
run syn 1000000 -- --max-flows 1000000
run syn "$N" -- --max-flows 1000000
run syn "$N" --
run templates 1000000 --
