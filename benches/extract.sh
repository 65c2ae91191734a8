#!/usr/bin/env bash
# Input benchmark (figures, not a pass/fail test): `spfsleuth extract` against
# `grep -c '^Received-SPF:'` on a generated spam mbox with a warm page cache, for each size.
# For grep and for extract with 1 and 2 threads it runs RUNS times (interleaved, so that a
# burst of load from elsewhere hits all of them alike) and reports the best and the median
# wall time, MB/s from the best, the smallest CPU time (user+sys) and the largest peak RSS
# (GNU time %M), then the ratios the targets are about:
#   extract (2 threads) >= 0.5 x grep speed; peak RSS < 100 MB and flat across sizes;
#   2 threads >= 1.7 x 1 thread.
# The machine's load average is printed before every size: on a shared machine wall times
# are only meaningful when it is well below the number of CPUs; CPU seconds show the work.
#
# usage: benches/extract.sh [SIZE...]        (default: 1G 4G; e.g. benches/extract.sh 200M)
# env:   BENCH_DIR (default target/bench)  RUNS (default 5)  KEEP=1 keeps the generated files
#        SEED (default 42)  THREADS (default "1 2")
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1G 4G)
dir=${BENCH_DIR:-target/bench}
runs=${RUNS:-5}
seed=${SEED:-42}
threads_list=${THREADS:-"1 2"}
bin=target/release/spfsleuth
export LC_ALL=C

cargo build --release --quiet
mkdir -p "$dir"
echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "# disk: $(df -h "$dir" | tail -1)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# summarise FILE: lines "wall user sys rss_kb" -> "best_wall median_wall min_cpu max_rss_kb"
summarise() {
    sort -n -k1 "$1" | awk '
        { wall[NR] = $1; cpu = $2 + $3; if (NR == 1 || cpu < min_cpu) min_cpu = cpu; if ($4 > rss) rss = $4 }
        END {
            median = (NR % 2) ? wall[(NR + 1) / 2] : (wall[NR / 2] + wall[NR / 2 + 1]) / 2
            printf "%.3f %.3f %.3f %d\n", wall[1], median, min_cpu, rss
        }'
}

rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? b / 1e6 / s : 0 }'; }

printf '%-6s %-24s %8s %8s %8s %8s %10s\n' size tool best_s median_s MB/s cpu_s peak_RSS_MB
for size in "${sizes[@]}"; do
    file="$dir/spam-$size.mbox"
    if [ ! -s "$file" ]; then
        python3 benches/gen_mbox.py --size "$size" --seed "$seed" -o "$file"
    fi
    bytes=$(stat -c %s "$file")
    # Warm the page cache.
    cat "$file" >/dev/null
    cat "$file" >/dev/null
    echo "# $size: $bytes bytes; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

    # One command per tool; every run of every tool before the next run.
    tools=("grep")
    for t in $threads_list; do tools+=("t$t"); done
    for tool in "${tools[@]}"; do : >"$tmp/$tool"; done
    for ((i = 0; i < runs; i++)); do
        for tool in "${tools[@]}"; do
            if [ "$tool" = grep ]; then
                # Output to a file: GNU grep stops at the first match when it writes to /dev/null.
                cmd=(grep -c '^Received-SPF:' "$file")
            else
                cmd=("$bin" extract "$file" --threads "${tool#t}")
            fi
            /usr/bin/time -f '%e %U %S %M' -a -o "$tmp/$tool" "${cmd[@]}" >"$tmp/out" 2>"$tmp/err"
        done
    done
    declare -A best=() median=()
    for tool in "${tools[@]}"; do
        read -r b m c r < <(summarise "$tmp/$tool")
        best[$tool]=$b
        median[$tool]=$m
        if [ "$tool" = grep ]; then name="grep -c ^Received-SPF:"; else name="extract --threads ${tool#t}"; fi
        printf '%-6s %-24s %8s %8s %8s %8s %10.1f\n' "$size" "$name" "$b" "$m" "$(rate "$bytes" "$b")" "$c" \
            "$(awk -v k="$r" 'BEGIN { print k / 1024 }')"
    done
    tail -1 "$tmp/err" | sed "s/^/#   last run: /"
    echo "#   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -n "${best[t1]:-}" ] && [ -n "${best[t2]:-}" ]; then
        awk -v gb="${best[grep]}" -v gm="${median[grep]}" -v ab="${best[t1]}" -v am="${median[t1]}" \
            -v bb="${best[t2]}" -v bm="${median[t2]}" -v s="$size" 'BEGIN {
            printf "#   %s: extract(2 threads) speed / grep speed = %.2f best, %.2f median (target >= 0.5)\n", s, gb / bb, gm / bm
            printf "#   %s: 2 threads vs 1 = %.2fx best, %.2fx median (target >= 1.7)\n", s, ab / bb, am / bm }'
    fi
    unset best median
    if [ "${KEEP:-0}" != 1 ]; then rm -f "$file"; fi
done
