#include "common/sqlite/db.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

#include "core/temp_dir.h"

using edge::ErrorCode;
using edge::sqlite::Db;
using edge::sqlite::Migration;
using edge::sqlite::Transaction;
using edge::testing::TempDir;

namespace {

const Migration kTwo[] = {
    {1, "001_items", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"},
    {2, "002_notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body BLOB);"},
};

Db OpenOk(const std::filesystem::path& path) {
  auto db = Db::Open(path);
  REQUIRE(db);
  return std::move(*db);
}

bool TableExists(Db& db, const std::string& name) {
  auto st = db.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  REQUIRE(st);
  st->Bind(1, name);
  auto row = st->Step();
  REQUIRE(row);
  return *row;
}

int64_t CountRows(Db& db, const std::string& table) {
  auto st = db.Prepare("SELECT count(*) FROM " + table);  // test-only: table names are literals
  REQUIRE(st);
  REQUIRE(st->Step().value());
  return st->Int(0);
}

}  // namespace

TEST_CASE("Open turns on WAL and foreign keys", "[sqlite]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  auto mode = db.Prepare("PRAGMA journal_mode");
  REQUIRE(mode);
  REQUIRE(mode->Step().value());
  CHECK(mode->Text(0) == "wal");
  auto fk = db.Prepare("PRAGMA foreign_keys");
  REQUIRE(fk);
  REQUIRE(fk->Step().value());
  CHECK(fk->Int(0) == 1);
  auto sync = db.Prepare("PRAGMA synchronous");
  REQUIRE(sync);
  REQUIRE(sync->Step().value());
  CHECK(sync->Int(0) == 2);  // FULL
}

TEST_CASE("Open refuses a file that is not a database", "[sqlite]") {
  TempDir dir;
  const auto path = dir / "junk.db";
  std::ofstream(path, std::ios::binary) << std::string(4096, 'x');
  auto db = Db::Open(path);
  REQUIRE_FALSE(db);
  CHECK(db.error().code == ErrorCode::kDataLoss);
  CHECK_THAT(db.error().message, Catch::Contains(path.string()));
}

TEST_CASE("Migrate applies every migration to a fresh database", "[sqlite][migrations]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  CHECK(db.SchemaVersion().value() == 0);
  REQUIRE(db.Migrate(kTwo));
  CHECK(db.SchemaVersion().value() == 2);
  CHECK(TableExists(db, "items"));
  CHECK(TableExists(db, "notes"));
}

TEST_CASE("Migrate on reopen is a no-op", "[sqlite][migrations]") {
  TempDir dir;
  {
    Db db = OpenOk(dir / "t.db");
    REQUIRE(db.Migrate(kTwo));
    REQUIRE(db.Exec("INSERT INTO items(name) VALUES ('kept')"));
  }
  Db db = OpenOk(dir / "t.db");
  // Re-running 001 would fail with "table items already exists": success proves it was skipped.
  REQUIRE(db.Migrate(kTwo));
  CHECK(db.SchemaVersion().value() == 2);
  CHECK(CountRows(db, "items") == 1);
}

TEST_CASE("Migrate applies only the new migrations of a longer list", "[sqlite][migrations]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  REQUIRE(db.Migrate(std::span<const Migration>(kTwo, 1)));
  CHECK(db.SchemaVersion().value() == 1);
  CHECK_FALSE(TableExists(db, "notes"));
  REQUIRE(db.Migrate(kTwo));
  CHECK(db.SchemaVersion().value() == 2);
  CHECK(TableExists(db, "notes"));
}

TEST_CASE("Migrate refuses a database with a newer schema version", "[sqlite][migrations]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  REQUIRE(db.Migrate(kTwo));
  auto s = db.Migrate(std::span<const Migration>(kTwo, 1));
  REQUIRE_FALSE(s);
  CHECK(s.error().code == ErrorCode::kFailedPrecondition);
  CHECK_THAT(s.error().message, Catch::Contains("schema version 2") && Catch::Contains("newer"));
  CHECK(db.SchemaVersion().value() == 2);
}

TEST_CASE("A failing migration rolls back and leaves the schema version unchanged", "[sqlite][migrations]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  REQUIRE(db.Migrate(std::span<const Migration>(kTwo, 1)));
  const Migration broken[] = {
      kTwo[0],
      {2, "002_broken", "CREATE TABLE half (id INTEGER); INSERT INTO items(name) VALUES ('x'); THIS IS NOT SQL;"},
  };
  auto s = db.Migrate(broken);
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::Contains("migration 2 (002_broken)"));
  CHECK(db.SchemaVersion().value() == 1);
  CHECK_FALSE(TableExists(db, "half"));
  CHECK(CountRows(db, "items") == 0);
  // The connection is usable afterwards and the fixed list applies.
  REQUIRE(db.Migrate(kTwo));
  CHECK(db.SchemaVersion().value() == 2);
}

TEST_CASE("Migrate refuses a list that is not strictly increasing", "[sqlite][migrations]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  const Migration duplicate[] = {{1, "a", "CREATE TABLE a (x);"}, {1, "b", "CREATE TABLE b (x);"}};
  const Migration decreasing[] = {{2, "a", "CREATE TABLE a (x);"}, {1, "b", "CREATE TABLE b (x);"}};
  const Migration zero[] = {{0, "a", "CREATE TABLE a (x);"}};
  for (auto list : {std::span<const Migration>(duplicate), std::span<const Migration>(decreasing),
                    std::span<const Migration>(zero)}) {
    auto s = db.Migrate(list);
    REQUIRE_FALSE(s);
    CHECK_THAT(s.error().message, Catch::Contains("not strictly increasing"));
  }
  CHECK(db.SchemaVersion().value() == 0);
  CHECK_FALSE(TableExists(db, "a"));
}

TEST_CASE("Transaction rolls back unless committed", "[sqlite][transaction]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  REQUIRE(db.Migrate(kTwo));
  {
    auto tx = Transaction::Begin(db);
    REQUIRE(tx);
    REQUIRE(db.Exec("INSERT INTO items(name) VALUES ('dropped')"));
  }
  CHECK(CountRows(db, "items") == 0);
  {
    auto tx = Transaction::Begin(db);
    REQUIRE(tx);
    REQUIRE(db.Exec("INSERT INTO items(name) VALUES ('kept')"));
    REQUIRE(tx->Commit());
  }
  CHECK(CountRows(db, "items") == 1);
}

TEST_CASE("A second connection reads during a write transaction and writes after it", "[sqlite][transaction]") {
  TempDir dir;
  Db a = OpenOk(dir / "t.db");
  REQUIRE(a.Migrate(kTwo));
  auto tx = Transaction::Begin(a);
  REQUIRE(tx);
  Db b = OpenOk(dir / "t.db");
  // Reads still work while a holds the write lock (WAL).
  CHECK(CountRows(b, "items") == 0);
  REQUIRE(tx->Commit());
  auto tx2 = Transaction::Begin(b);
  CHECK(tx2);
}

TEST_CASE("Statement binds by type and reads values back verbatim", "[sqlite][binding]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  REQUIRE(db.Exec("CREATE TABLE v (i INTEGER, t TEXT, b BLOB, n TEXT)"));
  const std::string tricky = "it's; DROP TABLE v;-- \"quoted\" \xc3\xa9";
  const std::string blob("\x00\x01\xff\x00zz", 6);
  auto ins = db.Prepare("INSERT INTO v(i, t, b, n) VALUES (?, ?, ?, ?)");
  REQUIRE(ins);
  ins->Bind(1, int64_t{-9007199254740993}).Bind(2, tricky).BindBlob(3, blob).BindNull(4);
  REQUIRE(ins->Run());
  CHECK(db.Changes() == 1);
  CHECK(db.LastInsertId() == 1);

  auto sel = db.Prepare("SELECT i, t, b, n FROM v WHERE t = ?");
  REQUIRE(sel);
  sel->Bind(1, tricky);
  REQUIRE(sel->Step().value());
  CHECK(sel->Int(0) == -9007199254740993);
  CHECK(sel->Text(1) == tricky);
  CHECK(sel->Blob(2) == blob);
  CHECK(sel->IsNull(3));
  CHECK_FALSE(sel->IsNull(0));
  CHECK_FALSE(sel->Step().value());
  CHECK(TableExists(db, "v"));
}

TEST_CASE("Binding out of range and bad SQL are errors, not crashes", "[sqlite][binding]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  REQUIRE(db.Exec("CREATE TABLE v (i INTEGER UNIQUE)"));
  auto st = db.Prepare("INSERT INTO v(i) VALUES (?)");
  REQUIRE(st);
  st->Bind(2, int64_t{1});
  auto r = st->Run();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kInternal);
  CHECK_THAT(r.error().message, Catch::Contains("binding parameters"));

  auto bad = db.Prepare("SELEKT 1");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("SELEKT 1"));

  REQUIRE(db.Exec("INSERT INTO v(i) VALUES (1)"));
  auto dup = db.Exec("INSERT INTO v(i) VALUES (1)");
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == ErrorCode::kAlreadyExists);
}

TEST_CASE("Constraint failures map to distinct error codes", "[sqlite]") {
  TempDir dir;
  Db db = OpenOk(dir / "t.db");
  REQUIRE(db.Exec("CREATE TABLE p (id TEXT PRIMARY KEY); "
                  "CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT NOT NULL REFERENCES p(id), n INTEGER CHECK (n > 0))"));
  REQUIRE(db.Exec("INSERT INTO p VALUES ('a')"));
  auto run = [&](const char* sql) {
    auto st = db.Prepare(sql);
    REQUIRE(st);
    return st->Run();
  };
  auto dup = run("INSERT INTO p VALUES ('a')");
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == ErrorCode::kAlreadyExists);
  auto fk = run("INSERT INTO c VALUES ('x', 'nope', 1)");
  REQUIRE_FALSE(fk);
  CHECK(fk.error().code == ErrorCode::kNotFound);
  auto check = run("INSERT INTO c VALUES ('y', 'a', 0)");
  REQUIRE_FALSE(check);
  CHECK(check.error().code == ErrorCode::kInvalidArgument);
}
