#!/usr/bin/env bash
# --state benchmark (figures, not a pass/fail test): what the nightly mode costs on the
# generated spam mbox of benches/scan.sh, warm page cache, release build.
#
# Per run it times, each writing its CSV to a file:
#   extract        spfsleuth extract MBOX                                   (reading alone)
#   scan           spfsleuth scan --zone Z MBOX                              (no state)
#   scan+state     spfsleuth scan --zone Z --state NEW.db MBOX               (first night: all new)
#   again+new-only spfsleuth scan --zone Z --state SAME.db --new-only MBOX   (second night)
# and prints wall and CPU seconds, the state overhead (scan+state / scan, target <= 1.10)
# and the second night against extraction plus evaluation (again+new-only / scan: the
# evaluation is the "DNS" part, there is no other work to skip). Then best and median.
#
# usage: benches/state.sh [SIZE]            (default 1G)
# env:   BENCH_DIR (default target/bench)  RUNS (default 3)  KEEP=1 keeps the generated mbox
#        SEED DOMAINS TUPLES as in benches/scan.sh
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-1G}
dir=${BENCH_DIR:-target/bench}
runs=${RUNS:-3}
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
zone="$world/bench.zone"

echo "# $(nproc) CPUs; $file: $((bytes / 1000000)) MB"
cat "$file" >/dev/null

# timed NAME CMD...: prints "wall cpu"; stderr kept in $tmp/NAME.err.
timed() {
    local name=$1
    shift
    /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/$name.err"
    awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$tmp/time"
}

printf '%-3s %-5s | %13s | %13s | %13s | %13s | %7s %7s | %7s %7s\n' run load \
    "extract s/cpu" "scan s/cpu" "+state s/cpu" "again s/cpu" state_x st_cpux again_x ag_cpux
for ((i = 1; i <= runs; i++)); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    rm -f "$tmp"/new.db* "$tmp"/out.csv
    read -r e_w e_c < <(timed extract "$bin" extract "$file" -o "$tmp/out.csv")
    read -r s_w s_c < <(timed scan "$bin" scan --zone "$zone" "$file" -o "$tmp/out.csv")
    read -r t_w t_c < <(timed state "$bin" scan --zone "$zone" --state "$tmp/new.db" "$file" -o "$tmp/out.csv")
    read -r a_w a_c < <(timed again "$bin" scan --zone "$zone" --state "$tmp/new.db" --new-only "$file" -o "$tmp/out.csv")
    rows=$(($(wc -l <"$tmp/out.csv") - 1))
    printf '%-3s %-5s | %6s %6s | %6s %6s | %6s %6s | %6s %6s | %7.3f %7.3f | %7.3f %7.3f  (second night rows: %s)\n' \
        "$i" "$load" "$e_w" "$e_c" "$s_w" "$s_c" "$t_w" "$t_c" "$a_w" "$a_c" \
        "$(awk -v a="$t_w" -v b="$s_w" 'BEGIN { print a / b }')" \
        "$(awk -v a="$t_c" -v b="$s_c" 'BEGIN { print a / b }')" \
        "$(awk -v a="$a_w" -v b="$s_w" 'BEGIN { print a / b }')" \
        "$(awk -v a="$a_c" -v b="$s_c" 'BEGIN { print a / b }')" "$rows"
    echo "$e_w $e_c $s_w $s_c $t_w $t_c $a_w $a_c" >>"$tmp/all"
done
stat_col() { # column, best|median
    sort -n -k"$1","$1" "$tmp/all" | awk -v c="$1" -v m="$2" '{ v[NR] = $c } END {
        if (m == "best") print v[1]; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for m in best median; do
    awk -v m="$m" -v ew="$(stat_col 1 $m)" -v sw="$(stat_col 3 $m)" -v sc="$(stat_col 4 $m)" \
        -v tw="$(stat_col 5 $m)" -v tc="$(stat_col 6 $m)" -v aw="$(stat_col 7 $m)" -v ac="$(stat_col 8 $m)" 'BEGIN {
        printf "# %-6s extract %.2f s; scan %.2f s (%.2f CPU); --state %.2f s (%.2f CPU) = %+.1f%% wall, %+.1f%% CPU (target <= +10%%); second night --state --new-only %.2f s (%.2f CPU) = %.2f x scan\n",
            m, ew, sw, sc, tw, tc, (tw / sw - 1) * 100, (tc / sc - 1) * 100, aw, ac, aw / sw }'
done
echo "# state file: $(stat -c %s "$tmp/new.db") bytes"
grep -E '^(spfsleuth: [0-9]+ messages|state:)' "$tmp/again.err" | sed 's/^/# second night: /'
