#!/usr/bin/env bash
# Instruction counts of `spfsleuth extract` (figures, not a test): on a busy shared machine
# wall and CPU times swing by tens of percent, while callgrind's instruction count for the
# same input is the same from run to run, so it is what optimisations are compared with.
# Runs with --threads 1 over a small generated mbox (default 100M: ~2,100 messages, about
# 10 s under valgrind) and prints the total and the costliest functions, inclusive.
#
# usage: benches/callgrind.sh [SIZE]     env: BENCH_DIR (default target/bench), SEED (42),
#        TOP (default 25 functions), KEEP=1 keeps the generated mbox and the callgrind file
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-100M}
dir=${BENCH_DIR:-target/bench}
seed=${SEED:-42}
top=${TOP:-25}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }

cargo build --release --quiet
mkdir -p "$dir"
file="$dir/spam-$size.mbox"
[ -s "$file" ] || python3 benches/gen_mbox.py --size "$size" --seed "$seed" -o "$file"
out="$dir/callgrind.out"
valgrind --tool=callgrind --callgrind-out-file="$out" \
    target/release/spfsleuth extract "$file" --threads 1 >/dev/null 2>"$dir/callgrind.err"
grep -E 'refs:' "$dir/callgrind.err" | sed 's/^==[0-9]*== */# instructions /'
echo "# $size: $(stat -c %s "$file") bytes, $(grep -c '^From ' "$file") messages"
# Inlining splits a function's cost over several entries (one per source file it was
# inlined from); the largest inclusive figure per function name is shown.
callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
    awk '/^ *[0-9,]+ .*[:<]spfsleuth::(extract|input|output)::/ {
        n = $1; gsub(",", "", n); name = $0; sub(/^[^:]*:/, "", name); sub(/ \[.*/, "", name)
        sub(/ \([0-9,]+x\)$/, "", name); sub(/^</, "", name); sub(/^spfsleuth::/, "", name)
        if (n + 0 > best[name]) best[name] = n + 0
    } END { for (f in best) printf "%14d  %s\n", best[f], f }' | sort -rn | head -n "$top"
if [ "${KEEP:-0}" != 1 ]; then rm -f "$file" "$out" "$dir/callgrind.err"; fi
