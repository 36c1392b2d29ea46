#include "controller/daemon/private_key_file.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "common/core/fs.h"
#include "common/core/posix_file.h"

namespace edge::controller {
namespace {

constexpr int kMaxSymlinks = 40;  // as the kernel's path walk

std::string Mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// "uid 998 (edge-controller)": start-up only, so the non-reentrant lookups are fine.
std::string User(uid_t uid) {
  const struct passwd* pw = ::getpwuid(uid);
  return "uid " + std::to_string(uid) + (pw != nullptr ? " (" + std::string(pw->pw_name) + ")" : "");
}
std::string Group(gid_t gid) {
  const struct group* gr = ::getgrgid(gid);
  return "gid " + std::to_string(gid) + (gr != nullptr ? " (" + std::string(gr->gr_name) + ")" : "");
}

bool TrustedUser(uid_t uid, const ServiceUser& self) { return uid == 0 || uid == self.uid; }
bool TrustedGroup(gid_t gid, const ServiceUser& self) { return gid == 0 || gid == self.gid; }

// Someone other than root and the service could add, remove or rename entries in `dir`.
bool OthersMayWrite(const struct stat& dir, const ServiceUser& self) {
  return (dir.st_mode & S_IWOTH) != 0 || ((dir.st_mode & S_IWGRP) != 0 && !TrustedGroup(dir.st_gid, self));
}

// A POSIX ACL with entries beyond owner, group and other: the mode's group bits are then only
// its mask, and named users or groups may have access the mode does not show. (A minimal ACL
// is not stored, so any stored one is extended.)
bool HasExtendedAcl(const std::filesystem::path& path) {
  return ::getxattr(path.c_str(), "system.posix_acl_access", nullptr, 0) > 0;
}

class KeyRefusal {
 public:
  KeyRefusal(std::string_view key, const std::filesystem::path& path) : prefix_(std::string(key) + " " + path.string()) {}
  Error operator()(const std::string& why) const { return Error{ErrorCode::kBadConfig, prefix_ + " " + why}; }

 private:
  std::string prefix_;
};

Status CheckFile(const std::filesystem::path& path, const struct stat& st, FileKind kind, const ServiceUser& self,
                 const KeyRefusal& refuse) {
  if (!TrustedUser(st.st_uid, self))
    return Fail(refuse("is owned by " + User(st.st_uid) + ", neither root nor the user the controller runs as (" + User(self.uid) +
                       "): its owner could change or replace it (chown root)"));
  if (HasExtendedAcl(path))
    return Fail(refuse("has a POSIX ACL (getfacl " + path.string() + "): users or groups it names may read or change it " +
                       "whatever its mode says (setfacl -b " + path.string() + ")"));
  if (kind == FileKind::kTrustAnchor) {
    if ((st.st_mode & S_IWOTH) != 0 || ((st.st_mode & S_IWGRP) != 0 && !TrustedGroup(st.st_gid, self)))
      return Fail(refuse("has mode " + Mode(st.st_mode) + ": other users could replace what the controller trusts " +
                         "(chmod 0644)"));
    return Ok();
  }
  if ((st.st_mode & (S_IRWXO | S_IWGRP)) != 0)
    return Fail(refuse("has mode " + Mode(st.st_mode) + ": a private key must give other users no access and its group no " +
                       "write access (chmod 0600, or 0640 with the service's group)"));
  if ((st.st_mode & S_IRGRP) != 0 && !TrustedGroup(st.st_gid, self))
    return Fail(refuse("is readable by the group " + Group(st.st_gid) + ", which is not the controller's group (" +
                       Group(self.gid) + "): its members could read the key (chgrp to the service's group, as the " +
                       "packages install it: root:edge-controller 0640; or chmod 0600)"));
  return Ok();
}

// Walks `path` from the root as the kernel would, following symlinks, and refuses any
// directory on the way that someone else could write (and so swap what comes next).
Status CheckPathToKey(const std::filesystem::path& path, const struct stat& opened, const ServiceUser& self,
                      const KeyRefusal& refuse) {
  std::vector<std::string> todo;  // components still to walk, the next one last
  auto push = [&](const std::filesystem::path& p) {
    std::vector<std::string> parts;
    for (const auto& part : p.relative_path()) parts.push_back(part.string());
    todo.insert(todo.end(), parts.rbegin(), parts.rend());
  };
  push(std::filesystem::absolute(path));
  std::filesystem::path dir = "/";
  int links = 0;
  while (!todo.empty()) {
    const std::string name = todo.back();
    todo.pop_back();
    if (name.empty() || name == ".") continue;
    if (name == "..") {  // `dir` holds no symlink, so its parent is the real one
      dir = dir.parent_path();
      continue;
    }
    struct stat d {};
    if (::stat(dir.c_str(), &d) != 0) return Fail(refuse("is on a path that cannot be checked: cannot stat " + dir.string() + ": " + fs::ErrnoText(errno)));
    if (HasExtendedAcl(dir))
      return Fail(refuse("is reached through the directory " + dir.string() + ", which has a POSIX ACL (getfacl " +
                         dir.string() + "): users or groups it names may be able to replace the file (setfacl -b)"));
    if (!TrustedUser(d.st_uid, self))
      return Fail(refuse("is reached through the directory " + dir.string() + ", owned by " + User(d.st_uid) +
                         ", neither root nor the controller's user: that user could replace the key"));
    const auto entry = dir / name;
    struct stat e {};
    if (::lstat(entry.c_str(), &e) != 0) return Fail(refuse("is on a path that cannot be checked: cannot stat " + entry.string() + ": " + fs::ErrnoText(errno)));
    if (OthersMayWrite(d, self)) {
      // Sticky (/tmp): only an entry's owner may rename or remove it.
      if ((d.st_mode & S_ISVTX) == 0)
        return Fail(refuse("is reached through the directory " + dir.string() + " (mode " + Mode(d.st_mode) + ", " +
                           Group(d.st_gid) + "), which other users can write: they could replace the key (keep keys " +
                           "in a directory only root and the service can write, such as /etc/edgefleet)"));
      if (!TrustedUser(e.st_uid, self))
        return Fail(refuse("is reached through " + entry.string() + ", owned by " + User(e.st_uid) + " in the shared directory " +
                           dir.string() + ": that user could replace it"));
    }
    if (S_ISLNK(e.st_mode)) {
      if (++links > kMaxSymlinks) return Fail(refuse("is reached through too many symlinks"));
      std::string target(static_cast<size_t>(e.st_size) + 1, '\0');
      const ssize_t n = ::readlink(entry.c_str(), target.data(), target.size());
      if (n < 0 || static_cast<size_t>(n) >= target.size())
        return Fail(refuse("is on a path that cannot be checked: cannot read the symlink " + entry.string() + ": " +
                           fs::ErrnoText(n < 0 ? errno : ENAMETOOLONG)));
      target.resize(static_cast<size_t>(n));
      const std::filesystem::path link(target);
      if (link.is_absolute()) dir = "/";
      push(link);
      continue;
    }
    dir = entry;
  }
  struct stat walked {};
  if (::stat(dir.c_str(), &walked) != 0 || walked.st_dev != opened.st_dev || walked.st_ino != opened.st_ino)
    return Fail(refuse("was replaced while it was being checked"));
  return Ok();
}

}  // namespace

ServiceUser ServiceUser::Current() { return {::geteuid(), ::getegid()}; }

Result<std::string> ReadPrivateKeyFile(std::string_view key, const std::filesystem::path& path, const ServiceUser& self) {
  return ReadGuardedFile(key, path, FileKind::kPrivateKey, self);
}

Result<std::string> ReadGuardedFile(std::string_view key, const std::filesystem::path& path, FileKind kind,
                                    const ServiceUser& self) {
  const KeyRefusal refuse(key, path);
  struct stat st {};
  auto fd = fs::OpenRegularFile(path, 0, &st);
  if (!fd) return Fail(Error{ErrorCode::kBadConfig, std::string(key) + ": " + fd.error().message});
  EDGE_TRY(CheckFile(path, st, kind, self, refuse));
  EDGE_TRY(CheckPathToKey(path, st, self, refuse));
  auto pem = fs::ReadAll(*fd, path, 64 * 1024);
  if (!pem) return Fail(Error{ErrorCode::kBadConfig, std::string(key) + ": " + pem.error().message});
  return pem;
}

}  // namespace edge::controller
