#include "common/sql/numbered_placeholders.h"

#include <algorithm>
#include <cctype>

namespace edge::sql {
namespace {

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The index just past a quoted run that starts at `i` with `quote` (a doubled quote inside is
// part of it), or the end of `sql` if it is not closed.
size_t SkipQuoted(std::string_view sql, size_t i, char quote) {
  for (size_t j = i + 1; j < sql.size(); ++j) {
    if (sql[j] != quote) continue;
    if (j + 1 < sql.size() && sql[j + 1] == quote) {
      ++j;
      continue;
    }
    return j + 1;
  }
  return sql.size();
}

}  // namespace

NumberedSql NumberPlaceholders(std::string_view sql) {
  NumberedSql out;
  out.sql.reserve(sql.size() + 8);
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    size_t end = i + 1;
    if (c == '\'' || c == '"') {
      end = SkipQuoted(sql, i, c);
    } else if (c == '-' && sql.substr(i, 2) == "--") {
      const size_t newline = sql.find('\n', i);
      end = newline == std::string_view::npos ? sql.size() : newline + 1;
    } else if (c == '/' && sql.substr(i, 2) == "/*") {
      const size_t close = sql.find("*/", i + 2);
      end = close == std::string_view::npos ? sql.size() : close + 2;
    } else if (c == '?') {
      // SQLite allows at most 32766 parameters; five digits cover them and cannot overflow.
      size_t digits = i + 1;
      int number = 0;
      while (digits < sql.size() && digits < i + 6 && IsDigit(sql[digits])) number = number * 10 + (sql[digits++] - '0');
      if (digits == i + 1) number = out.parameters + 1;
      out.parameters = std::max(out.parameters, number);
      out.sql += '$';
      out.sql += std::to_string(number);
      i = digits;
      continue;
    }
    out.sql.append(sql.substr(i, end - i));
    i = end;
  }
  return out;
}

}  // namespace edge::sql
