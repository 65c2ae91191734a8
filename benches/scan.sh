#!/usr/bin/env bash
# Scan benchmark (figures, not a pass/fail test): `spfsleuth scan --zone` against
# `spfsleuth extract` on the same generated spam mbox, warm page cache, release build.
#
# The world is benches/gen_zone.py's (1,000 sender domains with includes, mx, a, redirect and
# exists macros); the mbox is benches/gen_mbox.py --world: every message's envelope and
# recorded verdict come from that world (about 60% authorised client IPs).
#
# For each run it prints wall and CPU seconds (user+sys) of both commands, their ratio (target:
# scan <= 1.5 x extract), messages per second, and from the scan's summary the reading vs
# evaluation split, DNS questions asked vs distinct and SPF evaluations requested vs distinct;
# then the best and the median over the runs, and peak RSS. The load average is printed with
# every run: the machine is shared, so CPU seconds are the steadier figure.
#
# usage: benches/scan.sh [SIZE]            (default 1G)
# env:   BENCH_DIR (default target/bench)  RUNS (default 5)  KEEP=1 keeps the generated mbox
#        SEED (default 42)  DOMAINS (default 1000)  TUPLES (default 10000)
#        SCAN_ARGS (extra arguments for scan, e.g. "--threads 1")
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-1G}
dir=${BENCH_DIR:-target/bench}
runs=${RUNS:-5}
seed=${SEED:-42}
domains=${DOMAINS:-1000}
tuples=${TUPLES:-10000}
bin=${CARGO_TARGET_DIR:-target}/release/spfsleuth
export LC_ALL=C

cargo build --release --quiet
mkdir -p "$dir"
world="$dir/world-$domains"
if [ ! -s "$world/bench.zone" ]; then
    python3 benches/gen_zone.py "$world" --domains "$domains" --tuples "$tuples"
fi
file="$dir/world-$domains-$size.mbox"
if [ ! -s "$file" ]; then
    python3 benches/gen_mbox.py --size "$size" --seed "$seed" --world "$world" -o "$file"
fi
bytes=$(stat -c %s "$file")
tmp=$(mktemp -d)
cleanup() {
    rm -rf "$tmp"
    if [ "${KEEP:-0}" != 1 ]; then rm -f "$file"; fi
}
trap cleanup EXIT

echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "# $file: $((bytes / 1000000)) MB; world $world: $domains domains, $tuples tuples"
echo "# commands:"
echo "#   $bin extract $file >/dev/null"
echo "#   $bin scan --zone $world/bench.zone ${SCAN_ARGS:-}$( [ -n "${SCAN_ARGS:-}" ] && echo ' ')$file >/dev/null"
cat "$file" >/dev/null
cat "$file" >/dev/null

# timed OUT CMD...: run once; prints "wall cpu rss_kb" (GNU time), stderr kept in OUT.err.
timed() {
    local out=$1
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@" >/dev/null 2>"$out.err"
    awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$tmp/time"
}

printf '%-3s %-5s | %7s %7s %7s | %7s %7s %7s | %6s %6s | %8s | %s\n' \
    run load ext_s ext_cpu ext_MB scan_s scan_cpu scan_MB wall_x cpu_x msgs/s "scan: reading done / total; CPU reading vs evaluation"
for ((i = 1; i <= runs; i++)); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r e_wall e_cpu e_rss < <(timed "$tmp/extract" "$bin" extract "$file")
    # shellcheck disable=SC2086
    read -r s_wall s_cpu s_rss < <(timed "$tmp/scan" "$bin" scan --zone "$world/bench.zone" ${SCAN_ARGS:-} "$file")
    messages=$(sed -n 's/^spfsleuth: \([0-9]*\) messages and .*/\1/p' "$tmp/scan.err")
    split=$(sed -n 's/.* in \([0-9.]*\) s (reading done at \([0-9.]*\) s).*/\2 \/ \1 s/p' "$tmp/scan.err")
    cpu=$(sed -n 's/^CPU: \(.*\)$/\1/p' "$tmp/scan.err")
    printf '%-3s %-5s | %7s %7s %7.1f | %7s %7s %7.1f | %6.2f %6.2f | %8.0f | %s; %s\n' \
        "$i" "$load" "$e_wall" "$e_cpu" "$(awk -v k="$e_rss" 'BEGIN { print k / 1024 }')" \
        "$s_wall" "$s_cpu" "$(awk -v k="$s_rss" 'BEGIN { print k / 1024 }')" \
        "$(awk -v a="$s_wall" -v b="$e_wall" 'BEGIN { print a / b }')" \
        "$(awk -v a="$s_cpu" -v b="$e_cpu" 'BEGIN { print a / b }')" \
        "$(awk -v n="$messages" -v s="$s_wall" 'BEGIN { print n / s }')" "$split" "$cpu"
    echo "$e_wall $e_cpu $e_rss $s_wall $s_cpu $s_rss" >>"$tmp/all"
done

# Best (smallest) and median of each column over the runs.
stat_col() { # column, best|median
    sort -n -k"$1","$1" "$tmp/all" | awk -v c="$1" -v m="$2" '{ v[NR] = $c } END {
        if (m == "best") print v[1]; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for m in best median; do
    ew=$(stat_col 1 $m) ec=$(stat_col 2 $m) sw=$(stat_col 4 $m) sc=$(stat_col 5 $m)
    awk -v m="$m" -v ew="$ew" -v ec="$ec" -v sw="$sw" -v sc="$sc" -v n="$messages" 'BEGIN {
        printf "# %-6s extract %.2f s wall, %.2f s CPU; scan %.2f s wall, %.2f s CPU; scan/extract = %.2f wall, %.2f CPU (target <= 1.5); %.0f messages/s\n",
            m, ew, ec, sw, sc, sw / ew, sc / ec, n / sw }'
done
awk '{ if ($3 > e) e = $3; if ($6 > s) s = $6 } END { printf "# peak RSS: extract %.1f MB, scan %.1f MB\n", e / 1024, s / 1024 }' "$tmp/all"
echo "# last scan's summary (stderr), without the per-domain lines:"
grep -v '^  ' "$tmp/scan.err" | sed 's/^/#   /'
