#include "common/sql/numbered_placeholders.h"

#include <catch2/catch.hpp>

using edge::sql::NumberPlaceholders;

TEST_CASE("Placeholders: bare ones are numbered in order and numbered ones keep their number", "[sql][placeholders]") {
  auto bare = NumberPlaceholders("INSERT INTO t(a, b, c) VALUES (?, ?, ?)");
  CHECK(bare.sql == "INSERT INTO t(a, b, c) VALUES ($1, $2, $3)");
  CHECK(bare.parameters == 3);
  auto numbered = NumberPlaceholders("SELECT * FROM t WHERE (?1 = '' OR site = ?1) AND x < ?12");
  CHECK(numbered.sql == "SELECT * FROM t WHERE ($1 = '' OR site = $1) AND x < $12");
  CHECK(numbered.parameters == 12);
  // As SQLite numbers them: a bare one after ?N is N+1.
  auto mixed = NumberPlaceholders("SELECT ?2, ?, ?1");
  CHECK(mixed.sql == "SELECT $2, $3, $1");
  CHECK(mixed.parameters == 3);
  CHECK(NumberPlaceholders("SELECT 1").parameters == 0);
}

TEST_CASE("Placeholders: a question mark in a literal or identifier or comment is left alone", "[sql][placeholders]") {
  auto quoted = NumberPlaceholders("SELECT 'why?', \"odd?name\", 'it''s ?' FROM t WHERE a = ?");
  CHECK(quoted.sql == "SELECT 'why?', \"odd?name\", 'it''s ?' FROM t WHERE a = $1");
  CHECK(quoted.parameters == 1);
  auto comments = NumberPlaceholders("SELECT a -- is it?\nFROM t /* or ? */ WHERE b = ?");
  CHECK(comments.sql == "SELECT a -- is it?\nFROM t /* or ? */ WHERE b = $1");
  auto unclosed = NumberPlaceholders("SELECT '?");
  CHECK(unclosed.sql == "SELECT '?");
  CHECK(unclosed.parameters == 0);
}
