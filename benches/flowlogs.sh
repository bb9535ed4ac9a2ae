#!/usr/bin/env bash
# Flow logs (a day of Suricata eve.json or Zeek conn.log): flowcli with 1 and 2 threads on
# a generated log, against reading it (`cat`, the floor) and, when installed, `jq`
# selecting the flow events (what a script over eve.json would start with).
#
#   benches/flowlogs.sh                       # 1 M flow records per log
#   RECORDS=200000 benches/flowlogs.sh
#
# The logs are generated here (python3, seeded: the same bytes every run) into
# target/bench-data/: one flow per line, hosts over the example site's three segments and
# the Internet, TCP and UDP to common services, about a fifth of the lines carrying other
# eve event types (dns, alert), which are counted and passed over. Best wall time of RUNS
# runs; records/s; peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-1000000}
RUNS=${RUNS:-3}

source benches/common.sh
build_flowcli
D=target/bench-data
mkdir -p "$D"
EVE=$D/eve-$RECORDS.json
CONN=$D/conn-$RECORDS.log
if [ ! -s "$EVE" ] || [ ! -s "$CONN" ]; then
    python3 - "$RECORDS" "$EVE" "$CONN" <<'PY'
import random, sys, time
n, eve_path, conn_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
r = random.Random(7)
def host():
    z, h = r.randrange(4), r.randrange(4096)
    return f"10.{1 + z}.{10 + (h >> 8)}.{h & 255}" if z < 3 else f"198.51.100.{r.randrange(1, 251)}"
with open(eve_path, "w") as eve, open(conn_path, "w") as conn:
    conn.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
               "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t"
               "orig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\t"
               "orig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n"
               "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\t"
               "string\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n")
    t = 1795532400.0
    for i in range(n):
        t += 86400 / n
        a, b = host(), host()
        sp, dp = r.randrange(1024, 65535), r.choice([80, 443, 445, 53, 25, 3389, 8080])
        pr = "udp" if dp == 53 else "tcp"
        op, rp = r.randrange(1, 50), r.randrange(0, 50)
        ob, rb = op * r.randrange(60, 1400), rp * r.randrange(60, 1400)
        d = r.random() * 10
        us = int(t % 1 * 1e6)
        st = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{us:06d}+0000"
        en = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + d)) + f".{int((t + d) % 1 * 1e6):06d}+0000"
        conn.write(f"{t:.6f}\tC{i:017d}\t{a}\t{sp}\t{b}\t{dp}\t{pr}\t-\t{d:.6f}\t{ob}\t{rb}\tSF\t-\t-\t0\t"
                   f"ShADadFf\t{op}\t{ob + 40 * op}\t{rp}\t{rb + 40 * rp}\t(empty)\n")
        if r.random() < 0.2:
            eve.write(f'{{"timestamp":"{st}","flow_id":{i},"in_iface":"eth0","event_type":"dns",'
                      f'"src_ip":"{a}","src_port":{sp},"dest_ip":"{b}","dest_port":53,"proto":"UDP",'
                      f'"dns":{{"type":"query","id":{i % 65536},"rrname":"host{i % 997}.example.jp","rrtype":"A","tx_id":0}}}}\n')
        eve.write(f'{{"timestamp":"{st}","flow_id":{i},"in_iface":"eth0","event_type":"flow",'
                  f'"src_ip":"{a}","src_port":{sp},"dest_ip":"{b}","dest_port":{dp},"proto":"{pr.upper()}",'
                  f'"flow":{{"pkts_toserver":{op},"pkts_toclient":{rp},"bytes_toserver":{ob},'
                  f'"bytes_toclient":{rb},"start":"{st}","end":"{en}","age":{int(d)},'
                  f'"state":"closed","reason":"timeout","alerted":false}},'
                  f'"tcp":{{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1a","syn":true,'
                  f'"fin":true,"psh":true,"ack":true,"state":"closed"}}}}\n')
    conn.write("#close\t2026-11-26-00-00-00\n")
PY
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
recache "$EVE" "$CONN"

echo "logs: $EVE ($(du -h "$EVE" | cut -f1)), $CONN ($(du -h "$CONN" | cut -f1)); $RECORDS flow records each"
echo
echo "| command | wall | flow records/s | peak RSS |"
echo "|---|---|---|---|"
row "\`cat\` eve.json (the floor)" "$RECORDS" "flow records" "cat $EVE > /dev/null"
if command -v jq >/dev/null; then
    row "\`jq -c 'select(.event_type==\"flow\")'\` eve.json" "$RECORDS" "flow records" "jq -c 'select(.event_type==\"flow\")' $EVE > /dev/null"
else
    echo "(jq not installed: its row is skipped)" >&2
fi
for input in "$EVE" "$CONN"; do
    kind=$(basename "$input" | cut -d- -f1)
    for j in 1 2; do
        row "\`flowcli flows -j $j\`, $kind" "$RECORDS" "flow records" "$FLOWCLI flows -q -j $j --format ndjson $input"
        row "\`flowcli analyze -j $j\`, $kind" "$RECORDS" "flow records" \
            "$FLOWCLI analyze -q -j $j --ruleset rulesets/ome-city.toml --format json $input"
    done
done
