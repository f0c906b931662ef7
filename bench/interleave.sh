#!/usr/bin/env bash
# Two builds of shootdown timed in turn on the big runs of BENCHMARKS.md,
# so that a machine whose speed drifts (shared cores, neighbours) weighs
# on both alike.  BENCHMARKS.md records its runs.
#
#   bench/interleave.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# e.g. build the old commit in a worktree with its own CARGO_TARGET_DIR,
# then `bench/interleave.sh /tmp/old/release/shootdown
# target/release/shootdown 3`.  Prints one line per run (what, build,
# wall s, user s, peak RSS KiB, bytes/state), then the median of each.
set -euo pipefail
old=${1:?old binary}
new=${2:?new binary}
rounds=${3:-3}
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out" "$out.t" "$out.o"' EXIT
run() { # label build binary args...
    local label=$1 build=$2 bin=$3
    shift 3
    /usr/bin/time -f "%e %U %M" -o "$out.t" "$bin" "$@" > "$out.o" 2>&1 || true
    local bps
    bps=$(grep -o '[0-9.]* bytes per state' "$out.o" | cut -d' ' -f1 || true)
    echo "$label $build $(cat "$out.t") ${bps:--}" | tee -a "$out"
}
for _ in $(seq "$rounds"); do
    for build in old new; do
        bin=$old
        [ "$build" = new ] && bin=$new
        for store in tree full fingerprint; do
            flag=(--store "$store")
            [ "$store" = fingerprint ] && flag=(--fingerprint)
            for jobs in 1 2; do
                run "3cpu-$store-j$jobs" "$build" "$bin" check bench/mail-race-3cpu.toml \
                    --variant 2.4.20 "${flag[@]}" --jobs "$jobs"
            done
        done
        for store in tree full; do
            for jobs in 1 2; do
                run "4cpu-sym-$store-j$jobs" "$build" "$bin" check bench/mail-race-4cpu.toml \
                    --symmetry --store "$store" --jobs "$jobs"
            done
        done
    done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "median wall s, user s; peak RSS KiB, bytes/state:"
cut -d' ' -f1,2 "$out" | sort -u | while read -r label build; do
    rows=$(grep "^$label $build " "$out")
    echo "$label $build $(cut -d' ' -f3 <<< "$rows" | median) $(cut -d' ' -f4 <<< "$rows" | median)" \
        "$(cut -d' ' -f5 <<< "$rows" | sort -n | tail -1) $(cut -d' ' -f6 <<< "$rows" | head -1)"
done
