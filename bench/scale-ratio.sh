#!/usr/bin/env bash
# Exploration's cost per event at 3, 250 and 2,500 clients (issue 16): `nspsim explore --jobs 1`
# over bench/clients-10000.toml's lifecycle (startup, two lookups, cleanup per client) with
# `count` set to each size, random and PCT, the sizes alternating ROUNDS times in this one
# invocation. Prints events/s (best and median) per size and the ratio of the 3-client figure
# to each.
#
# Without faults every seed of a size makes the same events (every client makes the same
# calls, in some order), so events/s is that count, read from one `nspsim run`'s `end` line,
# times seeds/s. FAULTS=crash explores as the shuttle comparison does; injected crashes then
# shorten seeds (about 13-16 % at every size, so the ratios hardly move), and the events/s
# printed, still from the fault-free count, are that much too high.
#
# At 2,500 clients a run's state no longer fits in a core's cache, so that figure depends on
# what else shares the last-level cache: on a shared (virtual) machine it can swing by half
# between minutes while the 3-client figure stays put. Best-of is the figure least disturbed
# by neighbours; compare binaries in one invocation (BINS="old new"), never across runs.
#
# Override ROUNDS, STRATEGIES ("random pct"), FAULTS (none), BINS (nspsim binaries; default:
# a release build of this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
STRATEGIES=${STRATEGIES:-random pct}
FAULTS=${FAULTS:-none}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
if [[ -z ${BINS:-} ]]; then
  cargo build --release --quiet -p nspsim
  BINS=$TARGET/release/nspsim
fi
TMP=$(mktemp -d /tmp/scale-ratio.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Sizes, and seeds per run for each (about two seconds each: `explore` prints its time to
# 10 ms). Plain arrays, indexed alike: macOS's bash 3.2 has no associative ones.
sizes=(3 250 2500)
seeds=(150000 2000 60)
events=()
bins=($BINS)
for i in "${!sizes[@]}"; do
  n=${sizes[$i]}
  sed "s/^count = 10000$/count = $n/; s/^name = \"clients-10000\"$/name = \"c$n\"/" \
    bench/clients-10000.toml >"$TMP/c$n.toml"
  "${bins[0]}" run "$TMP/c$n.toml" --seed 1 -q --trace "$TMP/c$n.jsonl" >/dev/null
  events[$i]=$(tail -n 1 "$TMP/c$n.jsonl" | sed -n 's/.*"events":\([0-9]*\).*/\1/p')
  [[ -n ${events[$i]} ]] || { echo "no end line in the $n-client trace" >&2; exit 1; }
done

for strategy in $STRATEGIES; do
  # times[b * 3 + i]: binary b's run times at size i, space-separated.
  times=()
  for ((r = 1; r <= ROUNDS; r++)); do
    for b in "${!bins[@]}"; do
      for i in "${!sizes[@]}"; do
        n=${sizes[$i]}
        if ! out=$("${bins[$b]}" explore "$TMP/c$n.toml" --seeds "0..${seeds[$i]}" \
          --jobs 1 --faults "$FAULTS" --strategy "$strategy" 2>&1); then
          echo "explore found a failure or could not run (${bins[$b]}, $n clients):" >&2
          echo "$out" >&2
          exit 1
        fi
        t=$(sed -n 's/.* seeds in \([0-9.]*\) s.*/\1/p' <<<"$out" | tail -n 1)
        [[ -n $t ]] || { echo "explore printed no time:" >&2; echo "$out" >&2; exit 1; }
        k=$((b * ${#sizes[@]} + i))
        times[$k]="${times[$k]:-} $t"
      done
    done
  done
  for b in "${!bins[@]}"; do
    echo "$strategy, ${bins[$b]}:"
    for i in "${!sizes[@]}"; do
      echo "${sizes[$i]} ${seeds[$i]} ${events[$i]} ${times[$((b * ${#sizes[@]} + i))]}"
    done | awk '
      function sort(a, k,   i, j, x) { for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }
      {
        k = 0; for (i = 4; i <= NF; i++) t[++k] = $i; sort(t, k)
        m = (k % 2) ? t[(k + 1) / 2] : (t[k / 2] + t[k / 2 + 1]) / 2
        best = $2 * $3 / t[1]; med = $2 * $3 / m
        if (NR == 1) { b3 = best; m3 = med }
        printf "  %5d clients: %6.2f M events/s best, %6.2f median; 3-client figure / this: %.2f best, %.2f median\n", $1, best / 1e6, med / 1e6, b3 / best, m3 / med
      }'
  done
done
