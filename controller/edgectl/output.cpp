#include "controller/edgectl/output.h"

#include <cstdio>
#include <ctime>
#include <iostream>

namespace edge::edgectl {

std::string FormatTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                        const std::string& indent) {
  std::vector<size_t> width(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    out += indent;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 3, ' ');
    }
    out += "\n";
  };
  line(headers);
  for (const auto& r : rows) line(r);
  return out;
}

void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::cout << FormatTable(headers, rows) << std::flush;
}

void PrintJson(const nlohmann::json& value) { std::cout << value.dump(2) << std::endl; }

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
