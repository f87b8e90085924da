#!/usr/bin/env bash
# nspsim against shuttle on the same NSPv2 lifecycle (issue 16): nspsim explores
# bench/nspsim-model.toml (3 clients x startup, 2 lookups, cleanup; crashes injected, the
# checker online) on one thread; shuttle runs bench/shuttle-model (the same lifecycle, a coin
# for the crash, four invariants checked) with check_random. The two run alternately, ROUNDS
# times, in this one invocation, so machine load hits both alike; the medians and their ratio
# are printed. Override SEEDS (per run) and ROUNDS.
#
# Both are built alike: nspsim's release profile links with fat LTO (the workspace's
# Cargo.toml), and the shuttle model, a workspace of its own, gets the same through
# CARGO_PROFILE_RELEASE_LTO (it runs about a quarter fewer instructions for it). SHUTTLE_LTO=off
# builds it with its own profile instead, into a target directory of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-200000}
ROUNDS=${ROUNDS:-3}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
SHUTTLE_LTO=${SHUTTLE_LTO:-fat}
SHUTTLE_TARGET=${SHUTTLE_TARGET_DIR:-/tmp/shuttle-model-target-lto-$SHUTTLE_LTO}

cargo build --release --quiet -p nspsim
(cd bench/shuttle-model &&
  CARGO_PROFILE_RELEASE_LTO=$SHUTTLE_LTO cargo build --release --quiet --target-dir "$SHUTTLE_TARGET")
NSPSIM=$TARGET/release/nspsim
SHUTTLE=$SHUTTLE_TARGET/release/shuttle-model
TMP=$(mktemp -d /tmp/compare-shuttle.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# explore writes regressions and failure traces next to the scenario: run a copy.
cp bench/nspsim-model.toml "$TMP/"

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

nsp=() shu=()
for ((r = 1; r <= ROUNDS; r++)); do
  out=$("$NSPSIM" explore "$TMP/nspsim-model.toml" --seeds "0..$SEEDS" --jobs 1 \
    --faults crash --strategy random 2>&1)
  nsp+=("$(sed -n 's/.*(\([0-9]*\) seeds\/s).*/\1/p' <<<"$out" | tail -1)")
  out=$("$SHUTTLE" bench random "$SEEDS")
  shu+=("$(sed -n 's/.*exec_per_s=\([0-9]*\).*/\1/p' <<<"$out")")
  echo "round $r: nspsim ${nsp[-1]} seeds/s, shuttle ${shu[-1]} executions/s"
done
n=$(printf '%s\n' "${nsp[@]}" | median)
s=$(printf '%s\n' "${shu[@]}" | median)
echo "nspsim explore --jobs 1 --faults crash --strategy random: $n seeds/s (median of $ROUNDS)"
echo "shuttle check_random (lto = $SHUTTLE_LTO): $s executions/s (median of $ROUNDS)"
awk -v n="$n" -v s="$s" 'BEGIN { printf "ratio nspsim/shuttle: %.2f\n", n / s }'
