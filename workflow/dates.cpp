#include "workflow/dates.hpp"

#include <charconv>


namespace returnflow::workflow {
namespace {

bool ReadNumber(std::string_view text, std::size_t pos, std::size_t digits, int& out) {
  if (pos + digits > text.size()) return false;
  auto first = text.data() + pos;
  auto last = first + digits;
  for (auto it = first; it != last; ++it) {
    if (*it < '0' || *it > '9') return false;
  }
  return std::from_chars(first, last, out).ec == std::errc{};
}

}  // namespace

std::optional<Date> ParseDate(std::string_view text) {
  int year = 0, month = 0, day = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  if (!ReadNumber(text, 0, 4, year) || !ReadNumber(text, 5, 2, month) || !ReadNumber(text, 8, 2, day)) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  return Date{ymd};
}

std::optional<Instant> ParseInstant(std::string_view text) {
  if (text.size() < 20 || (text[10] != 'T' && text[10] != 't')) return std::nullopt;
  auto date = ParseDate(text.substr(0, 10));
  int hour = 0, minute = 0, second = 0;
  if (!date || text[13] != ':' || text[16] != ':' || !ReadNumber(text, 11, 2, hour) ||
      !ReadNumber(text, 14, 2, minute) || !ReadNumber(text, 17, 2, second) || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t digits_start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == digits_start) return std::nullopt;
  }
  if (pos >= text.size()) return std::nullopt;
  int offset_minutes = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    int off_hour = 0, off_minute = 0;
    if (pos + 6 != text.size() || text[pos + 3] != ':' || !ReadNumber(text, pos + 1, 2, off_hour) ||
        !ReadNumber(text, pos + 4, 2, off_minute) || off_hour > 23 || off_minute > 59) {
      return std::nullopt;
    }
    offset_minutes = (off_hour * 60 + off_minute) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  using namespace std::chrono;
  return Instant{*date} + hours{hour} + minutes{minute} + seconds{second} - minutes{offset_minutes};
}

namespace {

// Formatting sits on the hot path of every save, so digits are written by hand rather than through fmt.
void PutDigits(char* out, unsigned value, int width) {
  for (int index = width - 1; index >= 0; --index) {
    out[index] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

void PutDate(char* out, Date date) {
  const std::chrono::year_month_day ymd{date};
  PutDigits(out, static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
  out[4] = '-';
  PutDigits(out + 5, static_cast<unsigned>(ymd.month()), 2);
  out[7] = '-';
  PutDigits(out + 8, static_cast<unsigned>(ymd.day()), 2);
}

}  // namespace

std::string FormatDate(Date date) {
  std::string text(10, '\0');
  PutDate(text.data(), date);
  return text;
}

std::string FormatInstant(Instant instant) {
  using namespace std::chrono;
  const auto day = floor<days>(instant);
  const auto seconds_of_day = static_cast<unsigned>((instant - day).count());
  std::string text(20, '\0');
  PutDate(text.data(), day);
  text[10] = 'T';
  PutDigits(text.data() + 11, seconds_of_day / 3600, 2);
  text[13] = ':';
  PutDigits(text.data() + 14, seconds_of_day / 60 % 60, 2);
  text[16] = ':';
  PutDigits(text.data() + 17, seconds_of_day % 60, 2);
  text[19] = 'Z';
  return text;
}

}  // namespace returnflow::workflow
