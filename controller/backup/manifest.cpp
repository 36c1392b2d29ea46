#include "controller/backup/manifest.h"

#include <algorithm>
#include <ctime>
#include <map>

#include <nlohmann/json.hpp>

#include "common/bundle/bundle.h"

namespace edge::controller::backup {
namespace {

// 1M blobs at ~100 bytes each: far more than a controller holds.
constexpr size_t kMaxManifestBytes = 128u << 20;

Error Bad(const std::string& what) { return Error{ErrorCode::kDataLoss, "backup manifest: " + what}; }

// The value at `key` of `object` with the JSON type `check` accepts, or an error naming it.
template <typename Check>
Result<const nlohmann::json*> Field(const nlohmann::json& object, const std::string& key, const char* type,
                                    Check check) {
  auto it = object.find(key);
  if (it == object.end()) return Fail(Bad("missing \"" + key + "\""));
  if (!check(*it)) return Fail(Bad("\"" + key + "\" is not " + type));
  return &*it;
}
Result<uint64_t> Unsigned(const nlohmann::json& o, const std::string& key) {
  EDGE_ASSIGN_OR_RETURN(auto v, Field(o, key, "a non-negative integer", [](auto& j) { return j.is_number_unsigned(); }));
  return v->template get<uint64_t>();
}
Result<std::string> String(const nlohmann::json& o, const std::string& key) {
  EDGE_ASSIGN_OR_RETURN(auto v, Field(o, key, "a string", [](auto& j) { return j.is_string(); }));
  return v->template get<std::string>();
}
Result<const nlohmann::json*> Object(const nlohmann::json& o, const std::string& key) {
  return Field(o, key, "an object", [](auto& j) { return j.is_object(); });
}

Result<std::vector<BlobEntry>> ParseBlobs(const nlohmann::json& blobs) {
  EDGE_ASSIGN_OR_RETURN(auto items, Field(blobs, "items", "an array", [](auto& j) { return j.is_array(); }));
  std::vector<BlobEntry> out;
  out.reserve(items->size());
  for (const auto& item : *items) {
    if (!item.is_object()) return Fail(Bad("a blobs.items entry is not an object"));
    EDGE_ASSIGN_OR_RETURN(auto digest, String(item, "sha256"));
    EDGE_ASSIGN_OR_RETURN(auto size, Unsigned(item, "bytes"));
    // The digest becomes a file name: only 64 hex characters may reach the filesystem.
    if (!IsSha256Hex(digest)) return Fail(Bad("blob digest \"" + digest.substr(0, 80) + "\" is not a SHA-256 in hex"));
    if (!out.empty() && out.back().digest >= digest) return Fail(Bad("blobs.items is not sorted or lists " + digest + " twice"));
    out.push_back({std::move(digest), size});
  }
  EDGE_ASSIGN_OR_RETURN(auto count, Unsigned(blobs, "count"));
  EDGE_ASSIGN_OR_RETURN(auto bytes, Unsigned(blobs, "bytes"));
  Manifest m;
  m.blobs = out;
  if (count != out.size() || bytes != m.BlobBytes())
    return Fail(Bad("blobs.count/bytes (" + std::to_string(count) + "/" + std::to_string(bytes) +
                    ") disagree with blobs.items (" + std::to_string(out.size()) + "/" + std::to_string(m.BlobBytes()) + ")"));
  return out;
}

}  // namespace

uint64_t Manifest::BlobBytes() const {
  uint64_t total = 0;
  for (const auto& b : blobs) total += b.size;
  return total;
}

std::string UtcTime(int64_t unix_time, const char* format) {
  const std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  return std::strftime(buf, sizeof buf, format, &tm) > 0 ? buf : std::to_string(unix_time);
}

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string ManifestToJson(const Manifest& m) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& b : m.blobs) items.push_back({{"sha256", b.digest}, {"bytes", b.size}});
  nlohmann::json j = {
      {"format", kFormat},
      {"created", UtcTime(m.created_unix, "%Y-%m-%dT%H:%M:%SZ")},
      {"created_unix", m.created_unix},
      {"controller_version", m.controller_version},
      {"fleet", m.fleet},
      {"schema_version", m.schema_version},
      {"database", {{"file", kDatabaseFile}, {"sha256", m.db_sha256}, {"bytes", m.db_bytes}}},
      {"blobs", {{"count", m.blobs.size()}, {"bytes", m.BlobBytes()}, {"items", std::move(items)}}},
      {"not_included", kNotIncluded},
  };
  return j.dump(2) + "\n";
}

Result<Manifest> ParseManifest(std::string_view json) {
  auto parsed = bundle::ParseJsonLimited(json, "backup manifest", kMaxManifestBytes);
  if (!parsed) return Fail(Error{ErrorCode::kDataLoss, parsed.error().message});
  const auto& j = *parsed;
  if (!j.is_object()) return Fail(Bad("not a JSON object"));
  EDGE_ASSIGN_OR_RETURN(auto format, String(j, "format"));
  if (format != kFormat) return Fail(Bad("format \"" + format.substr(0, 80) + "\" is not " + std::string(kFormat)));
  Manifest m;
  EDGE_ASSIGN_OR_RETURN(auto created, Field(j, "created_unix", "an integer", [](auto& v) { return v.is_number_integer(); }));
  m.created_unix = created->get<int64_t>();
  EDGE_ASSIGN_OR_RETURN(m.controller_version, String(j, "controller_version"));
  EDGE_ASSIGN_OR_RETURN(m.fleet, String(j, "fleet"));
  EDGE_ASSIGN_OR_RETURN(auto schema, Unsigned(j, "schema_version"));
  if (schema == 0 || schema > 1'000'000) return Fail(Bad("schema_version " + std::to_string(schema) + " is out of range"));
  m.schema_version = static_cast<int>(schema);
  EDGE_ASSIGN_OR_RETURN(auto db, Object(j, "database"));
  EDGE_ASSIGN_OR_RETURN(auto db_file, String(*db, "file"));
  if (db_file != kDatabaseFile) return Fail(Bad("database.file must be " + std::string(kDatabaseFile)));
  EDGE_ASSIGN_OR_RETURN(m.db_sha256, String(*db, "sha256"));
  if (!IsSha256Hex(m.db_sha256)) return Fail(Bad("database.sha256 is not a SHA-256 in hex"));
  EDGE_ASSIGN_OR_RETURN(m.db_bytes, Unsigned(*db, "bytes"));
  EDGE_ASSIGN_OR_RETURN(auto blobs, Object(j, "blobs"));
  EDGE_ASSIGN_OR_RETURN(m.blobs, ParseBlobs(*blobs));
  return m;
}

Status CheckDatabaseMatches(const Manifest& m, int db_schema_version, const std::vector<BlobEntry>& db_blobs) {
  if (db_schema_version != m.schema_version)
    return Fail(ErrorCode::kDataLoss, "the backup's database has schema version " + std::to_string(db_schema_version) +
                                          ", its manifest says " + std::to_string(m.schema_version));
  std::map<std::string_view, uint64_t> listed;
  for (const auto& b : m.blobs) listed.emplace(b.digest, b.size);
  for (const auto& b : db_blobs) {
    auto it = listed.find(b.digest);
    if (it == listed.end())
      return Fail(ErrorCode::kDataLoss, "the backup's database references blob " + b.digest +
                                            ", which its manifest does not list: the backup is incomplete");
    if (it->second != b.size)
      return Fail(ErrorCode::kDataLoss, "blob " + b.digest + " is " + std::to_string(b.size) + " bytes in the database, " +
                                            std::to_string(it->second) + " in the manifest");
  }
  return Ok();
}

Status CheckRestorable(const Manifest& m, int newest_schema) {
  if (m.schema_version > newest_schema)
    return Fail(ErrorCode::kFailedPrecondition,
                "the backup has schema version " + std::to_string(m.schema_version) + " (controller " +
                    m.controller_version + "), newer than this edge-controller knows (" + std::to_string(newest_schema) +
                    "): restore it with that version or newer");
  return Ok();
}

}  // namespace edge::controller::backup
