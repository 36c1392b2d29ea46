// One statement for many rows (common/sql/row_batch.h): the rows expand into numbered
// placeholders, go in chunks of power-of-two sizes, and the statements each form is written
// in run the same on both databases.
#include "common/sql/row_batch.h"

#include "common/sql/numbered_placeholders.h"

#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "test_database.h"

using edge::sql::ExpandRows;
using edge::sql::Rows;
using edge::sql::RunForRows;
using edge::sql::Statement;

TEST_CASE("RowBatch: {rows} becomes rows of placeholders, numbered after the statement's own", "[placeholders]") {
  CHECK(ExpandRows("INSERT INTO t(a, b) VALUES {rows}", 3, 2) == "INSERT INTO t(a, b) VALUES (?,?),(?,?),(?,?)");
  const auto own_first = ExpandRows("DELETE FROM t WHERE k = ?1 AND a IN (VALUES {rows})", 2, 1);
  CHECK(own_first == "DELETE FROM t WHERE k = ?1 AND a IN (VALUES (?),(?))");
  CHECK(edge::sql::NumberPlaceholders(own_first).sql == "DELETE FROM t WHERE k = $1 AND a IN (VALUES ($2),($3))");
}

TEST_CASE("RowBatch: many rows in few statements, in order, and each form runs on every database", "[sql]") {
  EDGE_SKIP_UNLESS_DATABASE();
  edge::testing::TestDatabase db;
  auto c = db.Connect();
  REQUIRE(c->Exec("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT NOT NULL)"));
  // 1,000 rows: chunks of 512, 256, 128, 64, 32, 8; the insert order is the rows' order.
  constexpr size_t kRows = 1000;
  auto key = [](size_t i) { return "k" + std::to_string(i); };
  const auto prepared = c->statements_prepared();
  auto insert = [&](const char* sql, int64_t n) {
    REQUIRE(RunForRows(*c, sql, {kRows, 3, [&](Statement& st, size_t i, int at) {
                                   st.Bind(at, key(i)).Bind(at + 1, n < 0 ? static_cast<int64_t>(i) : n).Bind(at + 2, "");
                                 }}));
  };
  insert("INSERT INTO t(k, n, note) VALUES {rows}", -1);
  CHECK(c->statements_prepared() - prepared == 6);
  // The same sizes again prepare nothing new.
  insert("INSERT INTO t(k, n, note) VALUES {rows} ON CONFLICT(k) DO NOTHING", 0);
  insert("INSERT INTO t(k, n, note) VALUES {rows} ON CONFLICT(k) DO NOTHING", 0);
  CHECK(c->statements_prepared() - prepared == 12);

  // UPDATE ... FROM (VALUES ...), with a parameter of the statement's own.
  std::vector<size_t> odd;
  for (size_t i = 1; i < kRows; i += 2) odd.push_back(i);
  REQUIRE(RunForRows(
      *c, "UPDATE t SET n = v.column2, note = ?1 FROM (VALUES {rows}) AS v WHERE t.k = v.column1",
      {odd.size(), 2, [&](Statement& st, size_t i, int at) { st.Bind(at, key(odd[i])).Bind(at + 1, int64_t{-1}); }}, 1,
      [](Statement& st) { st.Bind(1, "odd"); }));
  // SELECT ... IN (VALUES ...): the rows each chunk returns.
  std::map<std::string, int64_t> seen;
  const std::vector<size_t> asked = {0, 1, 2, 3, 999, 5000};
  REQUIRE(RunForRows(
      *c, "SELECT k, n FROM t WHERE k IN (VALUES {rows})",
      {asked.size(), 1, [&](Statement& st, size_t i, int at) { st.Bind(at, key(asked[i])); }}, 0, {},
      [&](const Statement& st) { seen[st.Text(0)] = st.Int(1); }));
  CHECK(seen == std::map<std::string, int64_t>{{"k0", 0}, {"k1", -1}, {"k2", 2}, {"k3", -1}, {"k999", -1}});
  auto count = c->Prepare("SELECT count(*) FROM t WHERE note = 'odd'");
  REQUIRE(count);
  REQUIRE(count->Step().value());
  CHECK(count->Int(0) == 500);
  // Nothing to do: no statement.
  bool bound = false;
  REQUIRE(RunForRows(*c, "DELETE FROM t WHERE k IN (VALUES {rows})",
                     {0, 1, [&](Statement&, size_t, int) { bound = true; }}));
  CHECK_FALSE(bound);
}
