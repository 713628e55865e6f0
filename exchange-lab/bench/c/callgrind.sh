#!/bin/sh
# Instructions per trade, counted by callgrind on the binary that ships
# (`cargo build --release` first): the product's trade (a stress worker)
# and the same-work C (a c-same bench worker, looped in C), each the same
# buy-then-sell workload on a rich market of its own, less a zero-trade run
# of the same worker, divided by the trades: loop included, start-up not.
# Then per call, the loop left out, for a trade that is a function of its
# own (`shmx_c_trade`; the product's `Exchange::trade` is inlined into the
# stress worker's loop), glibc's lock and unlock included.
#
#   sh exchange-lab/bench/c/callgrind.sh [TRADES]     (default 200000)
set -eu
trades=${1:-200000}
bin=${BIN:-target/release}
config=$(mktemp --suffix=.toml)
trap 'rm -f "$config" /tmp/shmx-callgrind.$$.*' EXIT
"$bin/exchange-init" --print-config |
    sed -e 's/^cash = .*/cash = "10000000000.00"/' \
        -e 's/^starting_balance = .*/starting_balance = "1000000000.00"/' \
        -e 's/^stock = .*/stock = "1000000000.00"/' >"$config"

# Instructions callgrind counted in one run of `exchange-lab ARGS...`,
# told `go` on its stdin, on a fresh segment $segment.
count() {
    segment=posix:/shmx-callgrind-$$
    "$bin/exchange-init" --segment "$segment" --config "$config" --force >/dev/null
    out=/tmp/shmx-callgrind.$$.out
    echo go | valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bin/exchange-lab" "$@" >/dev/null 2>&1
    "$bin/exchange-init" --segment "$segment" --remove >/dev/null
    sed -n 's/^summary: //p' "$out"
}

per_trade() {
    name=$1
    shift
    empty=$(count "$@" --trades 0)
    full=$(count "$@" --trades "$trades")
    awk -v name="$name" -v full="$full" -v empty="$empty" -v trades="$trades" 'BEGIN {
        printf "%s: %.1f instructions per trade (%d - %d over %d)\n",
            name, (full - empty) / trades, full, empty, trades }'
    # The full run's profile is still there: the trade function per call.
    callgrind_annotate --inclusive=yes --threshold=100 /tmp/shmx-callgrind.$$.out 2>/dev/null |
        tr -d , | awk '/=> .*(shm::Exchange::trade|shmx_c_trade) \(/ {
            calls = $NF; gsub(/[(x)]/, "", calls)
            if (calls > 0) printf "    per call, loop left out: %.1f (%s)\n", $1 / calls, $(NF - 1)
            exit }'
}

segment=posix:/shmx-callgrind-$$
per_trade "the product's trade (stress worker)" \
    --segment "$segment" stress-worker --name stress-0 --seed 1
per_trade "the same-work C (bench-worker --kind c-same)" \
    bench-worker --kind c-same --target "$segment" --account 0 --seed 1
