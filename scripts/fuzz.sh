#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz, each for a bounded time, and fails on any finding.
#
#   ./scripts/fuzz.sh                      # every target, RETURNFLOW_FUZZ_SECONDS each (default 60)
#   ./scripts/fuzz.sh fuzz_cloudevents     # one target (or several)
#   RETURNFLOW_FUZZ_SECONDS=600 RETURNFLOW_FUZZ_JOBS=2 ./scripts/fuzz.sh
#
# Builds what it needs in build-asan/ (scripts/asan-build.sh). Each target fuzzes a working corpus,
# build-asan/fuzz/corpus/<target>, that starts from the committed seeds (tests/fuzz/corpus/<target>) and
# those fuzz_seeds writes for the current saved form, and keeps growing over local runs. A finding leaves
# its input in build-asan/fuzz/artifacts/<target>/ (reproduce: build-asan/tests/fuzz/<target> FILE) and
# its log in build-asan/fuzz/<target>.log. RETURNFLOW_FUZZ_JOBS targets run side by side (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/asan-build.sh
source ./scripts/asan-build.sh

seconds=${RETURNFLOW_FUZZ_SECONDS:-60}
jobs=${RETURNFLOW_FUZZ_JOBS:-1}
all_targets=(fuzz_cloudevents fuzz_event_data fuzz_referral fuzz_restore fuzz_search_query fuzz_cursor)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")

# Token dictionaries (libFuzzer takes one file: a target's is the concatenation of its parts).
dictionaries_of() {
  case "$1" in
    fuzz_cloudevents) echo "workflow cloudevents" ;;
    fuzz_event_data | fuzz_referral | fuzz_restore) echo "workflow" ;;
    fuzz_search_query) echo "search" ;;
    *) echo "" ;;
  esac
}

asan_configure
if [[ -z "${RETURNFLOW_FUZZ_BUILT:-}" ]]; then
  nice -n 10 cmake --build "$ASAN_BUILD_DIR" -j 2 --target "${targets[@]}" fuzz_seeds
fi

work="$ASAN_BUILD_DIR/fuzz"
mkdir -p "$work"
"$ASAN_BUILD_DIR/tests/fuzz/fuzz_seeds" "$work/seeds" >/dev/null

fuzz_one() {
  local target=$1 corpus="$work/corpus/$1" artifacts="$work/artifacts/$1/" log="$work/$1.log" dict=() parts part
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp -n tests/fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  cp -n "$work/seeds/$target"/* "$corpus"/ 2>/dev/null || true
  parts=$(dictionaries_of "$target")
  if [[ -n "$parts" ]]; then
    for part in $parts; do cat "tests/fuzz/dict/$part.dict"; done >"$work/$target.dict"
    dict=(-dict="$work/$target.dict")
  fi
  # -timeout: an input that takes 10 s is a hang (each takes microseconds); -rss_limit_mb: a runaway
  # allocation is a finding, not a machine out of memory.
  local status=0
  nice -n 10 "$ASAN_BUILD_DIR/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" "$corpus" >"$log" 2>&1 || status=$?
  local runs elapsed inputs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  elapsed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  inputs=$(find "$corpus" -type f | wc -l)
  if ((status == 0)); then
    echo "fuzz: $target: ${runs:-?} executions in ${elapsed:-?} s ($(( ${runs:-0} / (${elapsed:-1} > 0 ? ${elapsed:-1} : 1) )) exec/s), corpus $inputs inputs, no findings"
  else
    echo "fuzz: $target: FINDING after ${runs:-?} executions (exit $status); input in $artifacts, log $log" >&2
    grep -E -m 12 'ERROR|runtime error|fuzz: bug|SUMMARY|Test unit written' "$log" >&2 || tail -n 30 "$log" >&2
  fi
  return "$status"
}

failed=()
pending=("${targets[@]}")
declare -A running=()
while ((${#pending[@]} || ${#running[@]})); do
  while ((${#pending[@]})) && ((${#running[@]} < jobs)); do
    fuzz_one "${pending[0]}" &
    running[$!]=${pending[0]}
    pending=("${pending[@]:1}")
  done
  finished=0
  wait -n -p finished "${!running[@]}" || failed+=("${running[$finished]}")
  unset "running[$finished]"
done

if ((${#failed[@]})); then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${seconds} s each, no findings"
