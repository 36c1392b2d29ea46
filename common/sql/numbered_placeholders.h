// The store writes its statements with SQLite's placeholders, `?` and `?N`; PostgreSQL numbers
// them `$N`. This rewrites one form into the other, outside string literals, quoted
// identifiers and comments, the way SQLite numbers them: `?N` is parameter N, a bare `?` is
// one more than the highest number so far.
#pragma once

#include <string>
#include <string_view>

namespace edge::sql {

struct NumberedSql {
  std::string sql;      // with $1, $2, ...
  int parameters = 0;   // the highest parameter number used
};

NumberedSql NumberPlaceholders(std::string_view sql);

}  // namespace edge::sql
