#include "controller/edgectl/output.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace edge::edgectl {
namespace {

// The well-formed UTF-8 sequence starting at s[i] (Unicode Table 3-7: no overlongs, no
// surrogates, nothing above U+10FFFF): its length, and its code point in `cp`; 0 if there is none.
size_t DecodeUtf8(std::string_view s, size_t i, char32_t& cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
  else if (b0 == 0xE0) len = 3, lo = 0xA0;
  else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) len = 3;
  else if (b0 == 0xED) len = 3, hi = 0x9F;  // D800–DFFF are surrogates
  else if (b0 == 0xF0) len = 4, lo = 0x90;
  else if (b0 >= 0xF1 && b0 <= 0xF3) len = 4;
  else if (b0 == 0xF4) len = 4, hi = 0x8F;  // nothing above U+10FFFF
  else return 0;
  if (i + len > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  cp = b0 & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
  return len;
}

// Code points a terminal acts on or that reorder what is shown around them (Trojan Source).
bool IsHiddenControl(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

void AppendHex(std::string& out, const char* format, unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, format, value);
  out += buf;
}

}  // namespace

std::string TerminalSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const size_t len = DecodeUtf8(text, i, cp);
    if (len == 0) {  // not UTF-8: show the byte, resynchronise on the next one
      AppendHex(out, "\\x%02x", static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (cp == '\\') out += "\\\\";
    else if (cp == '\n') out += "\\n";
    else if (cp == '\r') out += "\\r";
    else if (cp == '\t') out += "\\t";
    else if (cp < 0x20 || cp == 0x7F) AppendHex(out, "\\x%02x", static_cast<unsigned>(cp));
    else if (IsHiddenControl(cp)) AppendHex(out, "\\u%04x", static_cast<unsigned>(cp));
    else out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

size_t DisplayWidth(std::string_view safe_text) {
  return static_cast<size_t>(std::count_if(safe_text.begin(), safe_text.end(),
                                           [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void WriteLine(std::ostream& out, std::string_view text) { out << TerminalSafe(text) << '\n'; }

std::string FormatTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                        const std::string& indent) {
  // Escape first, then measure: the widths are those of what is printed.
  auto escape = [](const std::vector<std::string>& cells) {
    std::vector<std::string> safe;
    safe.reserve(cells.size());
    for (const auto& c : cells) safe.push_back(TerminalSafe(c));
    return safe;
  };
  std::vector<std::vector<std::string>> table;
  table.reserve(rows.size() + 1);
  table.push_back(escape(headers));
  for (const auto& r : rows) table.push_back(escape(r));
  std::vector<size_t> width(headers.size());
  for (const auto& r : table)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], DisplayWidth(r[i]));
  std::string out;
  for (const auto& cells : table) {
    out += indent;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(i < width.size() ? width[i] - DisplayWidth(cells[i]) + 3 : 3, ' ');
    }
    out += "\n";
  }
  return out;
}

void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::cout << FormatTable(headers, rows) << std::flush;
}

std::string FormatJson(const nlohmann::json& value) {
  // ensure_ascii: C1 and bidi controls become \uXXXX too (nlohmann escapes only C0 otherwise);
  // replace: a device's invalid UTF-8 must not make dump() throw and lose the whole output.
  return value.dump(2, ' ', true, nlohmann::json::error_handler_t::replace);
}

void PrintJson(const nlohmann::json& value) { std::cout << FormatJson(value) << std::endl; }

std::string FormatTime(int64_t t) {
  if (t == 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string FormatAge(int64_t t, int64_t now) {
  if (t == 0) return "-";
  return FormatDuration(now - t);
}

std::string FormatDuration(int64_t seconds) {
  const int64_t d = std::max<int64_t>(0, seconds);
  if (d < 120) return std::to_string(d) + "s";
  if (d < 7200) return std::to_string(d / 60) + "m";
  if (d < 172800) return std::to_string(d / 3600) + "h";
  return std::to_string(d / 86400) + "d";
}

std::string FormatBytes(uint64_t b) {
  char buf[32];
  const auto v = static_cast<double>(b);
  if (b < 1024) return std::to_string(b) + " B";
  if (b < (1u << 20)) std::snprintf(buf, sizeof buf, "%.1f KiB", v / 1024.0);
  else if (b < (1ULL << 30)) std::snprintf(buf, sizeof buf, "%.1f MiB", v / (1024.0 * 1024.0));
  else std::snprintf(buf, sizeof buf, "%.1f GiB", v / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::string FormatMicros(double us) {
  char buf[32];
  if (us < 1000) std::snprintf(buf, sizeof buf, "%.0fus", us);
  else if (us < 1e6) std::snprintf(buf, sizeof buf, "%.1fms", us / 1000);
  else std::snprintf(buf, sizeof buf, "%.2fs", us / 1e6);
  return buf;
}

}  // namespace edge::edgectl
