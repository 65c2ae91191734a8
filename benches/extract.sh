#!/usr/bin/env bash
# Input benchmark (figures, not a pass/fail test): `spfsleuth extract` against
# `grep -c '^Received-SPF:'` on a generated spam mbox with a warm page cache, for each size.
# Reports wall seconds, MB/s, CPU seconds (user+sys) and peak RSS (GNU time %M) for grep and
# for extract with 1 and 2 threads (best of RUNS runs each), then the ratios the targets are
# about (on a shared machine wall times are noisy: CPU seconds show the work itself):
#   extract >= 0.5 x grep speed; peak RSS < 100 MB and flat across sizes; 2 threads >= 1.7 x 1.
#
# usage: benches/extract.sh [SIZE...]        (default: 1G 4G; e.g. benches/extract.sh 200M)
# env:   BENCH_DIR (default target/bench)  RUNS (default 3)  KEEP=1 keeps the generated files
#        SEED (default 42)  THREADS (default "1 2")
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1G 4G)
dir=${BENCH_DIR:-target/bench}
runs=${RUNS:-3}
seed=${SEED:-42}
threads_list=${THREADS:-"1 2"}
bin=target/release/spfsleuth
export LC_ALL=C

cargo build --release --quiet
mkdir -p "$dir"
echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "# disk: $(df -h "$dir" | tail -1)"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# best_of CMD...: run RUNS times; print "wall_seconds cpu_seconds peak_rss_kb": the fastest
# wall time, the smallest CPU time, the largest peak RSS.
best_of() {
    local best="" cpu="" rss="" i t u s m
    for ((i = 0; i < runs; i++)); do
        /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err"
        read -r t u s m <"$tmp/time"
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
        c=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
        if [ -z "$cpu" ] || awk -v a="$c" -v b="$cpu" 'BEGIN { exit !(a < b) }'; then cpu=$c; fi
        if [ -z "$rss" ] || [ "$m" -gt "$rss" ]; then rss=$m; fi
    done
    echo "$best $cpu $rss"
}

rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? b / 1e6 / s : 0 }'; }

row() { printf '%-6s %-22s %8s %8s %8s %10.1f\n' "$1" "$2" "$3" "$(rate "$bytes" "$3")" "$4" "$(awk -v k="$5" 'BEGIN { print k / 1024 }')"; }

printf '%-6s %-22s %8s %8s %8s %10s\n' size tool wall_s MB/s cpu_s peak_RSS_MB
for size in "${sizes[@]}"; do
    file="$dir/spam-$size.mbox"
    if [ ! -s "$file" ]; then
        python3 benches/gen_mbox.py --size "$size" --seed "$seed" -o "$file"
    fi
    bytes=$(stat -c %s "$file")
    # Warm the page cache.
    cat "$file" >/dev/null
    cat "$file" >/dev/null

    read -r g_s g_cpu g_rss < <(best_of grep -c '^Received-SPF:' "$file")
    row "$size" "grep -c ^Received-SPF:" "$g_s" "$g_cpu" "$g_rss"
    declare -A secs=()
    for t in $threads_list; do
        read -r e_s e_cpu e_rss < <(best_of "$bin" extract "$file" --threads "$t")
        secs[$t]=$e_s
        row "$size" "extract --threads $t" "$e_s" "$e_cpu" "$e_rss"
    done
    tail -1 "$tmp/err" | sed "s/^/#   last run: /"
    if [ -n "${secs[1]:-}" ] && [ -n "${secs[2]:-}" ]; then
        awk -v g="$g_s" -v a="${secs[1]}" -v b="${secs[2]}" -v s="$size" 'BEGIN {
            printf "#   %s: extract(2 threads) speed / grep speed = %.2f (target >= 0.5); 2 threads vs 1 = %.2fx (target >= 1.7)\n", s, g / b, a / b }'
    fi
    unset secs
    if [ "${KEEP:-0}" != 1 ]; then rm -f "$file"; fi
done
