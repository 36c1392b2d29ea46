// The manifest of a controller backup (backup.json): what the backup holds and the digests
// that prove it is whole. Pure: no files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/result.h"

namespace edge::controller::backup {

inline constexpr std::string_view kFormat = "edgefleet-controller-backup/1";
inline constexpr std::string_view kManifestFile = "backup.json";
inline constexpr std::string_view kDatabaseFile = "controller.db";
// Blobs sit at blobs/sha256/<digest> in a backup, as in the controller's data dir.
inline constexpr std::string_view kBlobSubdir = "blobs/sha256";
// Said by the backup command and recorded in the manifest: what must be kept separately.
inline constexpr std::string_view kNotIncluded =
    "the PKI (fleet CA key and certificate, controller key and certificate, operator CA, release root public key, "
    "trust policy file) and the configuration in /etc/edgefleet";

struct BlobEntry {
  std::string digest;  // lower-case hex SHA-256, 64 characters
  uint64_t size = 0;
  bool operator==(const BlobEntry&) const = default;
};

struct Manifest {
  int64_t created_unix = 0;
  std::string controller_version;
  std::string fleet;
  int schema_version = 0;
  std::string db_sha256;
  uint64_t db_bytes = 0;
  std::vector<BlobEntry> blobs;  // sorted by digest, no duplicates

  uint64_t BlobBytes() const;
};

bool IsSha256Hex(std::string_view s);
// `unix_time` in UTC with a strftime format (the manifest's "created", restore's aside names).
std::string UtcTime(int64_t unix_time, const char* format);

std::string ManifestToJson(const Manifest& manifest);
// Strict: unknown format, a malformed digest (it becomes a file name), an unsorted or
// duplicated blob list, or counts that disagree with the list are kDataLoss, named.
Result<Manifest> ParseManifest(std::string_view json);

// Checks a backup's database against its manifest: the database's schema version is the
// manifest's, and every blob the database references is listed with the same size (so that
// checking the listed files checks everything the database needs).
Status CheckDatabaseMatches(const Manifest& manifest, int db_schema_version, const std::vector<BlobEntry>& db_blobs);
// A backup this binary can restore: its schema is not newer than `newest_schema` (an older
// one is migrated when the controller starts).
Status CheckRestorable(const Manifest& manifest, int newest_schema);

}  // namespace edge::controller::backup
