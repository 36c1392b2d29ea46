// Data goes to stdout as an aligned table or as JSON; messages go to stderr.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace edge::edgectl {

enum class OutputFormat { kTable, kJson };

void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);
// The table as PrintTable writes it, every line (the header's too) starting with `indent`.
std::string FormatTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                        const std::string& indent = "");
void PrintJson(const nlohmann::json& value);
std::string FormatTime(int64_t unix_seconds);   // "2026-11-22 04:15:58Z", "-" for 0
std::string FormatAge(int64_t unix_seconds, int64_t now);  // "12s", "5m", "3h", "-"
std::string FormatDuration(int64_t seconds);                // "12s", "5m", "3h", "2d"
std::string FormatBytes(uint64_t bytes);
std::string FormatMicros(double microseconds);              // "850us", "12.5ms", "1.20s"

}  // namespace edge::edgectl
