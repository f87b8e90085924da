#!/usr/bin/env bash
# Old and new nspsim must explore alike: runs `explore --keep-going` with each binary over every
# scenario in traces/, bench/ and the explore fixtures, under random and PCT, and compares what
# they print (timings removed) and every file they write next to the scenario (failure traces,
# regressions); then records `run` traces of the first RUN_SEEDS seeds of each (no faults) with
# both and compares them byte for byte. Usage: bench/explore-equivalence.sh OLD_NSPSIM NEW_NSPSIM [SEEDS]
# JOBS=2 explores on two threads (what a worker thread reuses between seeds is then shared
# out differently; the findings must not change).
set -uo pipefail
# Absolute paths: each exploration runs in a scratch directory.
absolute() {
  case $1 in
    */*) echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" ;;
    *) command -v "$1" ;; # a name found on PATH
  esac
}
OLD=$(absolute "$1") NEW=$(absolute "$2") SEEDS=${3:-0..2000} JOBS=${JOBS:-1}
cd "$(dirname "$0")/.."
TMP=$(mktemp -d /tmp/explore-eqv.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail=0 runs=0
# In place, without GNU sed's `-i` (macOS has BSD sed).
edit() { local file=$1; shift; sed "$@" "$file" >"$file.new" && mv "$file.new" "$file"; }
for scenario in traces/*.toml bench/*.toml sim-tests/tests/fixtures/explore/*.toml; do
  seeds=$SEEDS extra=()
  # The big benches: a few seeds each (a seed there is thousands of events), and a short
  # shrink for the one whose seeds fail.
  case $scenario in
    bench/clients-10000.toml) seeds=0..2 ;;
    bench/shrink-1000.toml) seeds=0..3 extra=(--shrink-budget 100) ;;
  esac
  for strategy in random pct; do
    for which in old new; do
      dir=$TMP/$which && rm -rf "$dir" && mkdir -p "$dir"
      cp "$scenario" "$dir/"
      bin=$OLD && [[ $which == new ]] && bin=$NEW
      # `${extra[@]+…}`: an empty array under `set -u` is an error in bash before 4.4.
      (cd "$dir" && "$bin" explore "$(basename "$scenario")" --seeds "$seeds" --jobs "$JOBS" \
        --keep-going --faults all --strategy "$strategy" ${extra[@]+"${extra[@]}"} >out.txt 2>&1; echo "exit $?" >>out.txt)
      # Both binaries printing the same error would compare equal: a sweep must have run.
      if ! grep -q "seeds in" "$dir/out.txt"; then
        fail=$((fail + 1))
        echo "DID NOT RUN: $scenario $strategy ($which)"; head -5 "$dir/out.txt"
      fi
      edit "$dir/out.txt" "s|$bin|NSPSIM|g"
      edit "$dir/out.txt" -E 's/in [0-9.]+ ?m?s \([0-9]+ seeds\/s\)/in T (R seeds\/s)/; s/after [0-9]+ s \([0-9]+\/s\)/after T (R\/s)/'
      edit "$dir/out.txt" -E '/seeds after T/d; s/[0-9.]+ ?(ms|s|µs)([^[:alnum:]]|$)/T\2/g'
    done
    runs=$((runs + 1))
    if diff -r "$TMP/old" "$TMP/new" >"$TMP/diff.txt"; then
      echo "same: $scenario $strategy ($(grep -c . "$TMP/new/out.txt") lines, $(ls "$TMP/new" | wc -l) files)"
    else
      fail=$((fail + 1))
      echo "DIFFERENT: $scenario $strategy"; head -20 "$TMP/diff.txt"
    fi
  done
done
# Fault-free runs, traced in full (`run` records every event, details included).
RUN_SEEDS=${RUN_SEEDS:-40}
for scenario in traces/*.toml bench/nspsim-model.toml sim-tests/tests/fixtures/explore/*.toml; do
  for strategy in random pct; do
    same=0
    for ((seed = 0; seed < RUN_SEEDS; seed++)); do
      for which in old new; do
        bin=$OLD && [[ $which == new ]] && bin=$NEW
        "$bin" run "$scenario" --seed "$seed" --strategy "$strategy" -q \
          --trace "$TMP/$which.jsonl" >"$TMP/$which.out" 2>&1
        echo "exit $?" >>"$TMP/$which.out"
        edit "$TMP/$which.out" "s|$bin|NSPSIM|g; s|$TMP/$which|TRACE|g"
      done
      runs=$((runs + 1))
      if cmp -s "$TMP/old.jsonl" "$TMP/new.jsonl" && cmp -s "$TMP/old.out" "$TMP/new.out"; then
        same=$((same + 1))
      else
        fail=$((fail + 1))
        echo "DIFFERENT: run $scenario --seed $seed --strategy $strategy"
      fi
    done
    echo "same: run $scenario $strategy, $same of $RUN_SEEDS seeds ($(wc -l <"$TMP/new.jsonl") lines in the last trace)"
  done
done
echo "$runs runs compared, $fail different"
exit $((fail > 0))
