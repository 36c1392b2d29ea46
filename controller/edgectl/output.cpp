#include "controller/edgectl/output.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace edge::edgectl {

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

namespace {

bool yaml_output = false;

std::string YamlScalar(const nlohmann::json& v) {
  // JSON's literals and double-quoted strings (ASCII, \uXXXX escapes) are YAML's too.
  return v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::string YamlKey(const std::string& key) {
  static const char* const kReserved[] = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"};
  bool plain = !key.empty() && (std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_');
  for (char c : key) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  for (const char* r : kReserved) plain = plain && strcasecmp(key.c_str(), r) != 0;
  return plain ? key : YamlScalar(nlohmann::json(key));
}

bool Nested(const nlohmann::json& v) { return (v.is_object() || v.is_array()) && !v.empty(); }

// Block style; `indent` is the column of this value's keys or dashes.
void Yaml(const nlohmann::json& v, size_t indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (v.is_object() && !v.empty()) {
    bool first = true;
    for (const auto& [key, item] : v.items()) {
      if (!first) out += pad;
      first = false;
      out += YamlKey(key) + ":";
      if (Nested(item)) {
        out += "\n" + std::string(indent + 2, ' ');
        Yaml(item, indent + 2, out);
      } else {
        out += " " + (item.is_object() ? "{}" : item.is_array() ? "[]" : YamlScalar(item)) + "\n";
      }
    }
  } else if (v.is_array() && !v.empty()) {
    bool first = true;
    for (const auto& item : v) {
      if (!first) out += pad;
      first = false;
      out += "- ";
      if (Nested(item)) {
        Yaml(item, indent + 2, out);
      } else {
        out += (item.is_object() ? "{}" : item.is_array() ? "[]" : YamlScalar(item)) + "\n";
      }
    }
  } else {
    out += (v.is_object() ? "{}" : v.is_array() ? "[]" : YamlScalar(v)) + "\n";
  }
}

}  // namespace

void SetYamlOutput(bool yaml) { yaml_output = yaml; }

std::string FormatYaml(const nlohmann::json& value) {
  std::string out;
  Yaml(value, 0, out);
  return out;
}

std::string FormatJsonLine(const nlohmann::json& value) {
  if (yaml_output) {  // one document of a YAML stream; the caller ends the line
    std::string doc = "---\n" + FormatYaml(value);
    doc.pop_back();
    return doc;
  }
  return value.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

void PrintJson(const nlohmann::json& value) {
  if (yaml_output) {
    std::cout << FormatYaml(value) << std::flush;
    return;
  }
  std::cout << FormatJson(value) << std::endl;
}

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
