# Shared by the benchmark scripts (sourced, from the repository's root).

# install TOOL:PACKAGE...: installs the Debian packages of the tools not found.
install_missing() {
    local need=() p
    for p in "$@"; do
        command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing ${need[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
    fi
}

# Builds flowcli without polars (the measured paths do not use it, and a release polars
# build takes half an hour on two cores): sets TARGET (the target directory, which may be
# set elsewhere, in a cargo config) and FLOWCLI.
build_flowcli() {
    cargo build -q --release -p flowcli --no-default-features
    TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    FLOWCLI=$TARGET/release/flowcli
}

# recache FILE...: warm, and cached the way a first read from disk caches a file: dropped
# from the page cache, then read once. How a file sits in the cache matters, and drifts: the
# same file, as the machine had left it in the cache, cost the kernel about twice as much per
# `read` (cat 64 against 30 ms CPU, and `flows -j 1` 222 against 168 ms; benches/README.md).
recache() {
    for f in "$@"; do dd if="$f" iflag=nocache count=0 status=none; done
    cat "$@" >/dev/null
}

# time_best CMD...: the best wall time of RUNS runs of `sh -c CMD`, in seconds, in BEST_S,
# and the peak RSS of that run, in KiB, in BEST_RSS. The wall time is bash's microsecond
# clock around the run (GNU time's %e counts in 10 ms steps, 6 % of a 160 ms run); GNU time
# still gives the peak RSS. Needs a scratch directory in T; BEFORE, if set, is evaluated
# before each run (outside the timing).
time_best() {
    local t rss s e
    BEST_S="" BEST_RSS=""
    for _ in $(seq "${RUNS:-3}"); do
        if [ -n "${BEFORE:-}" ]; then eval "$BEFORE"; fi
        s=$EPOCHREALTIME
        /usr/bin/time -o "$T/time" -f "%M" sh -c "$*" >/dev/null 2>&1 || true
        e=$EPOCHREALTIME
        t=$(awk "BEGIN{printf \"%.4f\", ${e/,/.} - ${s/,/.}}")
        rss=$(tail -n 1 "$T/time")
        if [ -z "$BEST_S" ] || awk "BEGIN{exit !($t < $BEST_S)}"; then BEST_S=$t BEST_RSS=$rss; fi
    done
}

# row NAME COUNT UNIT CMD...: times CMD (time_best) and prints a Markdown row: wall time,
# COUNT per second in millions of UNIT, peak RSS.
row() {
    local name=$1 n=$2 unit=$3
    shift 3
    time_best "$@"
    printf '| %s | %.0f ms | %s %s/s | %s MiB |\n' "$name" "$(awk "BEGIN{print $BEST_S * 1000}")" \
        "$(awk "BEGIN{printf \"%.2f M\", $n / $BEST_S / 1e6}")" "$unit" $((BEST_RSS / 1024))
}
