#pragma once
// Shared by the libFuzzer targets (tests/fuzz): how a target reports a bug, and the line reader their
// text formats use.
//
// A target calls the pure decoders only (no database, no network, no clock). An error the decoder's
// contract documents (a Problem, a DecodeError, RestoreFailed, ProblemException) is a correct answer to
// a bad input; anything else that escapes, or an invariant that does not hold, is a bug: the target
// aborts with a message, and libFuzzer keeps the input that did it.
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>

namespace returnflow::fuzz {

[[noreturn]] inline void Fail(std::string_view what) {
  std::fprintf(stderr, "fuzz: bug: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

#define FUZZ_REQUIRE(condition)                                                                         \
  do {                                                                                                  \
    if (!(condition)) ::returnflow::fuzz::Fail(__FILE__ ":" + std::to_string(__LINE__) + ": " #condition); \
  } while (false)

inline std::string TypeName(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 ? name.get() : type.name();
}

/// Runs one input, turning any exception that escapes `body` into a reported bug: the API layer would
/// answer it with 500 internal (api/application.cpp), never with the 4xx the input deserves.
template <typename Body>
int Run(const std::uint8_t* data, std::size_t size, Body&& body) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    body(input);
  } catch (const std::exception& error) {
    Fail("unexpected " + TypeName(typeid(error)) + ": " + error.what());
  } catch (...) {
    Fail("unexpected exception of a type not derived from std::exception");
  }
  return 0;
}

/// Takes the text up to the first '\n' (a trailing '\r' dropped) off the front of `text`.
inline std::string_view TakeLine(std::string_view& text) {
  const auto end = text.find('\n');
  auto line = text.substr(0, end);
  text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

}  // namespace returnflow::fuzz
