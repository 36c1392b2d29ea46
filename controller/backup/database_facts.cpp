#include "controller/backup/database_facts.h"

#include "common/sqlite/db.h"

namespace edge::controller::backup {
namespace {

Status IntegrityCheck(sqlite::Db& db, const std::filesystem::path& path) {
  EDGE_ASSIGN_OR_RETURN(auto integrity, db.Prepare("PRAGMA integrity_check(5)"));
  std::string findings;
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, integrity.Step());
    if (!row) break;
    if (integrity.Text(0) != "ok") findings += (findings.empty() ? "" : "; ") + integrity.Text(0);
  }
  if (!findings.empty())
    return Fail(ErrorCode::kDataLoss, "database " + path.string() + " fails SQLite's integrity check: " + findings);
  EDGE_ASSIGN_OR_RETURN(auto fk, db.Prepare("PRAGMA foreign_key_check"));
  EDGE_ASSIGN_OR_RETURN(bool dangling, fk.Step());
  if (dangling)
    return Fail(ErrorCode::kDataLoss, "database " + path.string() + " has a row in " + fk.Text(0) +
                                          " that refers to a missing row in " + fk.Text(2));
  return Ok();
}

}  // namespace

Result<DatabaseFacts> ReadDatabaseFacts(const std::filesystem::path& path, bool check_integrity) {
  auto db = sqlite::Db::OpenReadOnly(path);
  if (!db) return Fail(Error{ErrorCode::kDataLoss, db.error().message});
  if (check_integrity) EDGE_TRY(IntegrityCheck(*db, path));
  DatabaseFacts facts;
  EDGE_ASSIGN_OR_RETURN(facts.schema_version, db->SchemaVersion());
  EDGE_ASSIGN_OR_RETURN(auto st, db->Prepare("SELECT digest, size FROM blobs ORDER BY digest"));
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    BlobEntry b{st.Text(0), static_cast<uint64_t>(st.Int(1))};
    if (!IsSha256Hex(b.digest) || st.Int(1) < 0)
      return Fail(ErrorCode::kDataLoss, "database " + path.string() + " lists a blob \"" + b.digest.substr(0, 80) +
                                            "\" that is not a SHA-256 digest with a size");
    facts.blobs.push_back(std::move(b));
  }
  return facts;
}

}  // namespace edge::controller::backup
