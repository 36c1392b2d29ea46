// One statement for many rows: a multi-row INSERT, an UPDATE ... FROM (VALUES ...), a
// SELECT ... IN (VALUES ...), run for a list of rows in a few statements instead of one per
// row. On PostgreSQL each statement is a round trip to the server, so this is what makes a
// batch of agent reports cost a few of them instead of several per report; on SQLite it saves
// the per-statement steps. The SQL is portable: both databases name the columns of a VALUES
// list column1, column2, ...
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/sql/connection.h"

namespace edge::sql {

struct Rows {
  size_t count = 0;
  int columns = 1;  // parameters per row
  // Binds row `row`'s values to the parameters first, first + 1, ..., first + columns - 1.
  std::function<void(Statement&, size_t row, int first)> bind;
};

// Runs `sql`, in which `{rows}` stands for the list of rows `(?, ...), (?, ...)`, for every row
// of `rows`: in chunks of at most kMaxRowsPerStatement rows, each chunk's size a power of two,
// so that few distinct texts are prepared (and kept) per statement. The statement may have
// `fixed` parameters of its own, written ?1 ... ?fixed before `{rows}` in its text (the rows'
// placeholders are numbered after them), bound by `bind_fixed` for each chunk.
// `each` is called for every row a chunk's statement returns. Nothing is run for no rows.
// Rows go in their order: a chunk's rows are inserted in order, chunks run one after another.
Status RunForRows(Connection& db, std::string_view sql, const Rows& rows, int fixed = 0,
                  const std::function<void(Statement&)>& bind_fixed = {},
                  const std::function<void(const Statement&)>& each = {});

inline constexpr size_t kMaxRowsPerStatement = 512;

// `sql` with `{rows}` replaced by `count` rows of `columns` placeholders each (exposed for
// tests).
std::string ExpandRows(std::string_view sql, size_t count, int columns);

}  // namespace edge::sql
