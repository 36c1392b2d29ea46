// The agent's files under <state_dir> (DESIGN §7):
//   blobs/sha256/<digest>            verified-size downloads (".partial" while in flight)
//   models/<name>/<version>/         one installed version: a file per blob role + envelope.json
//   models/<name>/current, previous  symlinks, switched atomically
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "common/bundle/bundle.h"
#include "common/core/result.h"

namespace edge::agent {

class ModelRepo {
 public:
  explicit ModelRepo(std::filesystem::path state_dir) : root_(std::move(state_dir)) {}

  Status Prepare();  // creates the directories
  std::filesystem::path BlobDir() const { return root_ / "blobs" / "sha256"; }
  std::filesystem::path BlobPath(const std::string& digest) const { return BlobDir() / digest; }
  std::filesystem::path PartialPath(const std::string& digest) const { return BlobPath(digest).string() + ".partial"; }
  std::filesystem::path VersionDir(const std::string& model, const std::string& version) const {
    return root_ / "models" / model / version;
  }
  const std::filesystem::path& root() const { return root_; }

  // Checks every blob of the manifest on disk (size and digest). Deletes a blob that fails, so
  // a later attempt fetches it again.
  Status VerifyBlobs(const bundle::Manifest& manifest);
  // Builds models/<name>/<version> in a temp directory and renames it into place. Idempotent.
  Status Install(const bundle::Manifest& manifest, const std::string& envelope_bytes);
  // previous → old_version (when given), then current → new_version. Idempotent, so it can be
  // re-run after a crash with the same arguments.
  Status Activate(const std::string& model, const std::string& new_version, const std::string& old_version);
  std::optional<std::string> CurrentVersion(const std::string& model) const;
  // Points `current` back at `active` if it points elsewhere; removes it when `active` is empty
  // (nothing was ever committed). Idempotent.
  Status RestoreCurrent(const std::string& model, const std::string& active);
  // Removes installed versions of `model` that neither `current` nor `previous` points at
  // (after a commit, only those two may be needed again). Returns how many.
  int CollectVersions(const std::string& model);
  // Removes complete blobs no installed version uses (installed files are hard links to their
  // blob, so a link count of 1 means unused), not in `keep` (the blobs of updates in flight) and
  // not modified for `grace` (a blob imported for a local install not yet picked up is recent).
  // Returns how many.
  int CollectBlobs(std::chrono::seconds grace, const std::set<std::string>& keep = {});
  // Removes these blobs now if no installed version uses them (a rolled-back or abandoned
  // target's, whose version directory is gone). Returns how many.
  int RemoveUnusedBlobs(const std::set<std::string>& digests);
  // Removes temp files and directories a crash left behind. Returns how many.
  int RemoveTemporaries();

 private:
  std::filesystem::path root_;
};

}  // namespace edge::agent
