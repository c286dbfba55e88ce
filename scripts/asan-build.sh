# shellcheck shell=bash
# The sanitizer build shared by scripts/sanitize.sh and scripts/fuzz.sh: clang 14, AddressSanitizer and
# UndefinedBehaviorSanitizer with libFuzzer's coverage on every target (cmake/Sanitizers.cmake), in
# build-asan/, apart from the normal build. Source this file, then call asan_configure.

ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}

# Configures build-asan once (the benchmarks are left out: nothing here runs them), through ccache when
# the machine has it.
asan_configure() {
  [[ -f "$ASAN_BUILD_DIR/build.ninja" ]] && return 0
  local launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S . -B "$ASAN_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
    -DRETURNFLOW_FUZZ=ON -DRETURNFLOW_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
}

# Sanitizer reports fail the process that has them: ASan and UBSan halt on the first (the build does not
# let UBSan recover), print a stack, and LeakSanitizer checks every exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
