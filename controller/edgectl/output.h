// Data goes to stdout as an aligned table or as JSON; messages go to stderr.
//
// Nothing a device or the controller sends reaches the operator's terminal raw: a table cell,
// a describe line or a message that carries remote text goes through TerminalSafe (FormatTable
// and WriteLine do it), and JSON is written with every non-ASCII character escaped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace edge::edgectl {

enum class OutputFormat { kTable, kJson };

// `text` with everything a terminal could interpret made visible, so that a compromised device
// cannot clear the screen, recolour it, move the cursor or forge a table row:
//   `\` → `\\`;  LF, CR, TAB → `\n`, `\r`, `\t`;  other C0 controls and DEL → `\x1b` style;
//   C1 controls U+0080–U+009F, bidi controls (U+061C, U+200E–U+200F, U+202A–U+202E,
//   U+2066–U+2069) and U+2028/U+2029 → `\u009b` style;  each byte of invalid UTF-8 (overlong,
//   surrogate, truncated, > U+10FFFF) → `\xff` style.
// Valid printable UTF-8 is kept as it is. Escaping the backslash makes the mapping one-to-one:
// no input can produce the escape another input shows.
std::string TerminalSafe(std::string_view text);
// Terminal columns of text that TerminalSafe returned: one per code point (wide CJK
// characters are counted as one).
size_t DisplayWidth(std::string_view safe_text);
// Writes TerminalSafe(text) and a newline: a newline inside `text` cannot start a new line.
void WriteLine(std::ostream& out, std::string_view text);

void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);
// The table as PrintTable writes it, every line (the header's too) starting with `indent`.
// Every cell goes through TerminalSafe and columns are as wide as the escaped text.
std::string FormatTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                        const std::string& indent = "");
// Indented by 2, ASCII only (every other character as \uXXXX), invalid UTF-8 replaced by
// U+FFFD instead of throwing.
std::string FormatJson(const nlohmann::json& value);
void PrintJson(const nlohmann::json& value);
std::string FormatTime(int64_t unix_seconds);   // "2026-11-22 04:15:58Z", "-" for 0
std::string FormatAge(int64_t unix_seconds, int64_t now);  // "12s", "5m", "3h", "-"
std::string FormatDuration(int64_t seconds);                // "12s", "5m", "3h", "2d"
std::string FormatBytes(uint64_t bytes);
std::string FormatMicros(double microseconds);              // "850us", "12.5ms", "1.20s"

}  // namespace edge::edgectl
