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

#include "common/core/text.h"

namespace edge::edgectl {

enum class OutputFormat { kTable, kJson };

// TerminalSafe and DisplayWidth (common/core/text.h): what every line below goes through.
using text::DisplayWidth;
using text::TerminalSafe;
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
// One line, for streams a script reads line by line (JSON Lines).
std::string FormatJsonLine(const nlohmann::json& value);
// With -o yaml (SetYamlOutput), PrintJson writes the value as YAML (block style, strings
// double-quoted, ASCII only) and FormatJsonLine as one document of a YAML stream ("---").
void PrintJson(const nlohmann::json& value);
void SetYamlOutput(bool yaml);
std::string FormatYaml(const nlohmann::json& value);
std::string FormatTime(int64_t unix_seconds);   // "2026-11-22 04:15:58Z", "-" for 0
std::string FormatAge(int64_t unix_seconds, int64_t now);  // "12s", "5m", "3h", "-"
std::string FormatDuration(int64_t seconds);                // "12s", "5m", "3h", "2d"
std::string FormatBytes(uint64_t bytes);
std::string FormatMicros(double microseconds);              // "850us", "12.5ms", "1.20s"

}  // namespace edge::edgectl
