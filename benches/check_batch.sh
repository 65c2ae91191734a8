#!/usr/bin/env bash
# Benchmark `spfsleuth check --batch` over DNS served on loopback: TUPLES tuples spread over
# DOMAINS generated domains (benches/gen_zone.py), served by `spfsleuth serve-dns`.
# Prints tuples per second for each run, and the DNS queries one run sent against the
# distinct (name, type) pairs it needed. Also checks that --zone gives the same CSV.
#
#   benches/check_batch.sh            # 1,000 domains, 10,000 tuples, 3 runs
#   DOMAINS=2000 TUPLES=50000 RUNS=5 benches/check_batch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DOMAINS=${DOMAINS:-1000}
TUPLES=${TUPLES:-10000}
RUNS=${RUNS:-3}

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/spfsleuth
DIR=$(mktemp -d)
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi
    rm -rf "$DIR"
}
trap cleanup EXIT

python3 benches/gen_zone.py "$DIR" --domains "$DOMAINS" --tuples "$TUPLES"
"$BIN" serve-dns --zone "$DIR/bench.zone" --listen 127.0.0.1:0 --stats-file "$DIR/stats" >"$DIR/addr" &
SERVER=$!
for _ in $(seq 50); do [ -s "$DIR/addr" ] && break; sleep 0.1; done
ADDR=$(head -n1 "$DIR/addr")
echo "world: $DOMAINS domains, $TUPLES tuples; DNS on $ADDR; $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"

stat_value() { awk -v k="$1" '$1 == k { print $2 }' "$DIR/stats"; }
for run in $(seq "$RUNS"); do
    before=$( [ -s "$DIR/stats" ] && stat_value queries || echo 0 )
    start=$(date +%s.%N)
    "$BIN" check --batch --nameserver "$ADDR" <"$DIR/tuples.tsv" >"$DIR/out-ns.csv"
    end=$(date +%s.%N)
    sleep 0.3 # the server rewrites its stats file every 100 ms
    after=$(stat_value queries)
    awk -v s="$start" -v e="$end" -v n="$TUPLES" -v r="$run" -v q=$((after - before)) -v d="$(stat_value distinct)" \
        'BEGIN { printf "run %d: %d tuples in %.3f s = %.0f tuples/s; DNS queries sent %d, distinct (name, type) pairs %d\n", r, n, e - s, n / (e - s), q, d }'
done

start=$(date +%s.%N)
"$BIN" check --batch --zone "$DIR/bench.zone" <"$DIR/tuples.tsv" >"$DIR/out-zone.csv"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$TUPLES" 'BEGIN { printf "--zone (no network): %.3f s = %.0f tuples/s\n", e - s, n / (e - s) }'
if cmp -s "$DIR/out-ns.csv" "$DIR/out-zone.csv"; then
    echo "--zone and --nameserver give the same CSV"
else
    echo "DIFFERENT CSV from --zone and --nameserver" >&2
    exit 1
fi
