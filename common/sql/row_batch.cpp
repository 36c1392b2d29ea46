#include "common/sql/row_batch.h"

#include <algorithm>
#include <bit>

namespace edge::sql {

std::string ExpandRows(std::string_view sql, size_t count, int columns) {
  constexpr std::string_view kMarker = "{rows}";
  const size_t at = sql.find(kMarker);
  // Bare `?`s: numbered after the statement's own ?1 ... ?fixed before them. SQLite looks the
  // name of each `?N` up in a list of all of them while it prepares, which is quadratic in their
  // number (tens of milliseconds for a 5,000-parameter statement).
  std::string row = "(?";
  for (int c = 1; c < columns; ++c) row += ",?";
  row += ')';
  std::string list;
  list.reserve(count * (row.size() + 1));
  for (size_t r = 0; r < count; ++r) {
    if (r) list += ',';
    list += row;
  }
  if (at == std::string_view::npos) return std::string(sql);
  return std::string(sql.substr(0, at)) + list + std::string(sql.substr(at + kMarker.size()));
}

Status RunForRows(Connection& db, std::string_view sql, const Rows& rows, int fixed,
                  const std::function<void(Statement&)>& bind_fixed,
                  const std::function<void(const Statement&)>& each) {
  // SQLite takes at most 32766 parameters in a statement.
  size_t most = kMaxRowsPerStatement;
  while (most > 1 && most * static_cast<size_t>(rows.columns) + static_cast<size_t>(fixed) > 32766) most /= 2;
  for (size_t done = 0; done < rows.count;) {
    const size_t chunk = std::min(most, std::bit_floor(rows.count - done));
    EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(ExpandRows(sql, chunk, rows.columns)));
    if (bind_fixed) bind_fixed(st);
    for (size_t r = 0; r < chunk; ++r) rows.bind(st, done + r, fixed + 1 + static_cast<int>(r) * rows.columns);
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (each) each(st);
    }
    done += chunk;
  }
  return Ok();
}

}  // namespace edge::sql
