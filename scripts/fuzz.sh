#!/usr/bin/env bash
# Fuzzing helper for mk/fuzz.mk.
#   scripts/fuzz.sh deps                  install clang + libFuzzer runtime if missing
#   scripts/fuzz.sh run SECONDS TARGET... run each target for SECONDS
#   scripts/fuzz.sh repro TARGET FILE...  replay inputs (a crash, a corpus file)
# Environment: FUZZ_BUILD (build/fuzz), FUZZ_JOBS (targets run at once,
# default: number of CPUs), FUZZ_CC (clang).
#
# `run` keeps what libFuzzer finds out of the tree: it reads the seeds in
# fuzz/corpus/TARGET/ and writes new inputs to FUZZ_BUILD/corpus/TARGET/ and
# crashes to FUZZ_BUILD/artifacts/TARGET/. It prints one line per target
# (executions, executions/s, corpus growth, crashes) and exits 1 when any
# target crashed, leaked or tripped a sanitizer.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

source scripts/apt_lib.sh # apt_install
build=${FUZZ_BUILD:-build/fuzz}
cc=${FUZZ_CC:-clang}

# The libFuzzer runtime is a separate package from the compiler on Debian.
have_fuzzer_runtime() {
  command -v "$cc" >/dev/null 2>&1 || return 1
  local probe
  probe=$(mktemp -d) || return 1
  printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\n%s\n' \
    'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
    >"$probe/p.c"
  "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1
  local rc=$?
  rm -rf "$probe"
  return $rc
}

deps() {
  have_fuzzer_runtime && return 0
  # libclang-rt-dev pulls the runtime matching Debian's default clang
  # (libclang-rt-14-dev on bookworm).
  apt_install "fuzzing (clang and its libFuzzer runtime)" clang libclang-rt-dev || return 1
  have_fuzzer_runtime || { echo "fuzz: $cc still cannot link -fsanitize=fuzzer" >&2; return 1; }
}

# Runs one target; the summary goes to $build/logs/TARGET.summary.
run_one() {
  local t=$1 secs=$2
  local bin=$build/fuzz_$t log=$build/logs/$t.log
  local corpus=$build/corpus/$t arts=$build/artifacts/$t
  mkdir -p "$corpus" "$arts" "$build/logs"
  [[ -x "$bin" ]] || { echo "$t: $bin not built (make fuzz-build)" >"$build/logs/$t.summary"; return 1; }
  local seeds=()
  [[ -d fuzz/corpus/$t ]] && seeds=("fuzz/corpus/$t")
  local start=$SECONDS
  # Leaks are findings (detect_leaks); -timeout catches hangs; one input
  # over 2 GiB of memory is a finding too.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$arts/" "$corpus" "${seeds[@]}" >"$log" 2>&1
  local rc=$?
  local wall=$((SECONDS - start))
  local execs speed added crashes
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  execs=$(stat number_of_executed_units)
  speed=$(stat average_exec_per_sec)
  added=$(stat new_units_added)
  crashes=$(find "$arts" -type f | wc -l)
  printf '%-8s %6ss  execs %-12s exec/s %-8s new units %-6s corpus %-6s artifacts %s  rc %s  log %s\n' \
    "$t" "$wall" "${execs:-?}" "${speed:-?}" "${added:-?}" "$(find "$corpus" -type f | wc -l)" \
    "$crashes" "$rc" "$log" >"$build/logs/$t.summary"
  [[ $rc -eq 0 ]]
}

run() {
  local secs=$1
  shift
  local jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
  local failed=0 running=0
  local pids=() names=()
  for t in "$@"; do
    run_one "$t" "$secs" &
    pids+=($!)
    names+=("$t")
    running=$((running + 1))
    if [[ $running -ge $jobs ]]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
  done
  while [[ $running -gt 0 ]]; do
    wait -n || failed=1
    running=$((running - 1))
  done
  for t in "${names[@]}"; do
    cat "$build/logs/$t.summary"
    if ! grep -q ' rc 0 ' "$build/logs/$t.summary"; then
      grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$build/logs/$t.log" | sed 's/^/    /'
      ls "$build/artifacts/$t" 2>/dev/null | sed "s|^|    crash: $build/artifacts/$t/|"
    fi
  done
  return $failed
}

repro() {
  local t=$1
  shift
  "$build/fuzz_$t" -runs=1 "$@"
}

case "${1:-}" in
  deps) deps ;;
  run) shift; [[ $# -ge 2 ]] || { echo "usage: $0 run SECONDS TARGET..." >&2; exit 2; }; run "$@" ;;
  repro) shift; [[ $# -ge 2 ]] || { echo "usage: $0 repro TARGET FILE..." >&2; exit 2; }; repro "$@" ;;
  *) echo "usage: $0 deps | run SECONDS TARGET... | repro TARGET FILE..." >&2; exit 2 ;;
esac
