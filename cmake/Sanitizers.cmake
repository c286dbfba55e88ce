# Sanitizer and fuzzing builds (scripts/sanitize.sh, scripts/fuzz.sh). Both are off in the normal build.
#
# RETURNFLOW_SANITIZE: every target compiled and linked with AddressSanitizer and UndefinedBehaviorSanitizer;
# any report aborts (no recovery), so a finding fails its test. Assertions are on. The libraries under test
# are built at -O1 (returnflow_sanitize_optimized, called for them), everything else (tests, the CLI, the
# fuzz drivers) at -O0: measured on the 2-core machine, -O1 with ASan doubles the compile time of a test
# translation unit (Catch2's main: 69 s against 29 s) and the tests do not need the speed.
#
# RETURNFLOW_FUZZ (clang only, implies RETURNFLOW_SANITIZE): every target also carries libFuzzer's coverage
# instrumentation, and tests/fuzz builds the libFuzzer targets. One build serves the ctest suite and the
# fuzzers, so the sanitizer run compiles the project once.
option(RETURNFLOW_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(RETURNFLOW_FUZZ "Build the libFuzzer targets in tests/fuzz (clang; implies RETURNFLOW_SANITIZE)" OFF)

if(RETURNFLOW_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "RETURNFLOW_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  set(RETURNFLOW_SANITIZE ON CACHE BOOL "Build with AddressSanitizer and UndefinedBehaviorSanitizer" FORCE)
endif()

if(RETURNFLOW_SANITIZE)
  set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O0 -g1")
  set(_returnflow_sanitizers -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_compile_options(${_returnflow_sanitizers})
  add_link_options(-fsanitize=address,undefined)
  if(RETURNFLOW_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
endif()

# Turns one sanitizer check off for the given targets (called after they exist). Two checks need it:
#  - vptr, on the targets that compile SOCI's headers: the check refers to the typeinfo of each polymorphic
#    class it checks, and Debian's libsoci exports none for its statement and backend classes, so every
#    link fails ("undefined reference to `typeinfo for soci::details::ref_counted_statement'").
#  - function, on the targets that hold C++20 coroutine bodies (engine, api): clang 14 cannot emit the
#    check's prologue data for a coroutine's split-off parts ("Cannot represent a difference across
#    sections", llvm-project issue 49689, fixed in later releases).
function(returnflow_sanitize_without check)
  if(NOT RETURNFLOW_SANITIZE)
    return()
  endif()
  foreach(target IN LISTS ARGN)
    if(TARGET ${target})
      target_compile_options(${target} PRIVATE -fno-sanitize=${check})
    endif()
  endforeach()
endfunction()

# The code the suite and the fuzzers exercise: -O1, as AddressSanitizer is meant to run, so that fuzzing
# gets its executions per second.
function(returnflow_sanitize_optimized)
  if(NOT RETURNFLOW_SANITIZE)
    return()
  endif()
  foreach(target IN LISTS ARGN)
    target_compile_options(${target} PRIVATE -O1)
  endforeach()
endfunction()
