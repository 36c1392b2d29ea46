#include "agent/store/model_repo.h"

#include <algorithm>

#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "common/core/fs.h"

namespace edge::agent {

namespace stdfs = std::filesystem;

Status ModelRepo::Prepare() {
  EDGE_TRY(fs::CreateDirectories(root_ / "blobs" / "sha256", 0750));
  EDGE_TRY(fs::CreateDirectories(root_ / "models", 0755));
  return Ok();
}

Status ModelRepo::VerifyBlobs(const bundle::Manifest& manifest) {
  for (const auto& b : manifest.blobs) {
    if (auto s = bundle::CheckBlobFile(b, BlobPath(b.digest)); !s) {
      ::unlink(BlobPath(b.digest).c_str());
      return Fail(s.error().Wrap(manifest.name + ":" + manifest.version + " blob '" + b.role + "'"));
    }
  }
  return Ok();
}

Status ModelRepo::Install(const bundle::Manifest& m, const std::string& envelope_bytes) {
  const auto final_dir = VersionDir(m.name, m.version);
  std::error_code exists_ec;
  if (stdfs::exists(final_dir / "envelope.json", exists_ec)) return Ok();
  const auto tmp = root_ / "models" / m.name / ("." + m.version + ".tmp");
  std::error_code ec;
  stdfs::remove_all(tmp, ec);
  EDGE_TRY(fs::CreateDirectories(tmp, 0755));
  for (const auto& b : m.blobs) {
    // Hard links: the installed file and the blob share one inode, no copy.
    stdfs::create_hard_link(BlobPath(b.digest), tmp / b.role, ec);
    if (ec) stdfs::copy_file(BlobPath(b.digest), tmp / b.role, stdfs::copy_options::overwrite_existing, ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot install blob " + b.digest + " as " + (tmp / b.role).string() + ": " + ec.message());
    EDGE_TRY(fs::FsyncPath(tmp / b.role));
  }
  EDGE_TRY(fs::WriteFileAtomic(tmp / "envelope.json", envelope_bytes));
  stdfs::remove_all(final_dir, ec);  // a partial dir from an older layout; never a complete one
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0)
    return Fail(ErrorCode::kIo, "cannot move " + tmp.string() + " into place: " + fs::ErrnoText(errno));
  return fs::FsyncPath(final_dir.parent_path());
}

Status ModelRepo::Activate(const std::string& model, const std::string& new_version, const std::string& old_version) {
  const auto dir = root_ / "models" / model;
  std::error_code exists_ec;
  if (!stdfs::exists(dir / new_version / "envelope.json", exists_ec))
    return Fail(ErrorCode::kFailedPrecondition, "cannot activate " + model + ":" + new_version + ": it is not installed");
  if (!old_version.empty() && old_version != new_version) EDGE_TRY(fs::ReplaceSymlink(old_version, dir / "previous"));
  return fs::ReplaceSymlink(new_version, dir / "current");
}

std::optional<std::string> ModelRepo::CurrentVersion(const std::string& model) const {
  std::error_code ec;
  auto target = stdfs::read_symlink(root_ / "models" / model / "current", ec);
  if (ec) return std::nullopt;
  return target.string();
}

Status ModelRepo::RestoreCurrent(const std::string& model, const std::string& active) {
  const auto current = CurrentVersion(model);
  if (current == (active.empty() ? std::nullopt : std::optional<std::string>(active))) return Ok();
  if (!active.empty()) return fs::ReplaceSymlink(active, root_ / "models" / model / "current");
  if (::unlink((root_ / "models" / model / "current").c_str()) != 0 && errno != ENOENT)
    return Fail(ErrorCode::kIo, "cannot remove " + (root_ / "models" / model / "current").string() + ": " + fs::ErrnoText(errno));
  return fs::FsyncPath(root_ / "models" / model);
}

int ModelRepo::CollectVersions(const std::string& model) {
  const auto dir = root_ / "models" / model;
  std::error_code ec;
  std::vector<std::string> keep;
  for (const char* link : {"current", "previous"})
    if (auto target = stdfs::read_symlink(dir / link, ec); !ec) keep.push_back(target.string());
  std::vector<stdfs::path> old;
  for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
    const auto name = it->path().filename().string();
    std::error_code type_ec;
    if (it->is_symlink(type_ec) || !it->is_directory(type_ec) || type_ec || name.starts_with(".")) continue;
    if (std::find(keep.begin(), keep.end(), name) == keep.end()) old.push_back(it->path());
  }
  for (const auto& p : old) stdfs::remove_all(p, ec);
  return static_cast<int>(old.size());
}

int ModelRepo::CollectBlobs(std::chrono::seconds grace, const std::set<std::string>& keep) {
  const auto cutoff = std::chrono::system_clock::now() - grace;
  std::vector<stdfs::path> unused;
  std::error_code ec;
  for (auto it = stdfs::directory_iterator(BlobDir(), ec); !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
    struct stat st{};
    if (it->path().extension() == ".partial" || keep.count(it->path().filename().string()) ||
        ::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (st.st_nlink == 1 && std::chrono::system_clock::from_time_t(st.st_mtime) < cutoff) unused.push_back(it->path());
  }
  for (const auto& p : unused) ::unlink(p.c_str());
  return static_cast<int>(unused.size());
}

int ModelRepo::RemoveUnusedBlobs(const std::set<std::string>& digests) {
  int removed = 0;
  for (const auto& digest : digests) {
    struct stat st{};
    const auto path = BlobPath(digest);
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) continue;
    if (::unlink(path.c_str()) == 0) ++removed;
  }
  return removed;
}

int ModelRepo::RemoveTemporaries() {
  // Collect first: removing while iterating invalidates the iterator.
  std::vector<stdfs::path> leftovers;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(root_ / "models", ec); !ec && it != stdfs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    if ((name.starts_with(".") && name.ends_with(".tmp")) || name.find(".tmp.") != std::string::npos) {
      leftovers.push_back(it->path());
      it.disable_recursion_pending();
    }
  }
  for (const auto& p : leftovers) stdfs::remove_all(p, ec);
  return static_cast<int>(leftovers.size());
}

}  // namespace edge::agent
