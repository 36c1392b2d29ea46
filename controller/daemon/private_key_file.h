// Reading the controller's private key files (fleet_ca_key, server_key) only when no one but
// root and the controller's own user could read or replace them. The rules
// (docs/operations.md#what-the-controller-refuses-at-start):
// - the file is a regular file (not a FIFO, device, socket or directory: opened without
//   blocking);
// - it is owned by root or by the user the controller runs as: any other owner can chmod it
//   or rewrite it;
// - its mode gives other users nothing and its group no write access; a group-readable key
//   (0640) belongs to the controller's own group or root's (the packages install keys
//   root:edge-controller 0640, and the unit runs with Group=edge-controller): a key of a shared
//   group such as `edgefleet` would be readable by the agent;
// - every directory on the way to it, through symlinks, is owned by root or the controller's
//   user and writable by no one else: whoever can write a directory can swap the key (or a
//   symlink to it) for their own. A world-writable directory with the sticky bit (/tmp) is
//   accepted only when the entry in it is owned by root or the controller's user;
// - neither the file nor any directory on the way has a POSIX ACL with named entries (whose
//   grants the mode bits do not show).
// The CA certificates the controller trusts (fleet_ca_cert, operator_ca_cert) are trust anchors:
// whoever replaces one mints identities, so they get the same owner, ACL and path rules, and
// need only not be writable by others (they are public).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "common/core/result.h"

namespace edge::controller {

// Who the controller runs as: the owner and group a key may have.
struct ServiceUser {
  uid_t uid = 0;
  gid_t gid = 0;
  static ServiceUser Current();  // geteuid(), getegid()
};

enum class FileKind { kPrivateKey, kTrustAnchor };

// The file's text, or kBadConfig naming `key` (the config key) and `path` and what to fix.
Result<std::string> ReadGuardedFile(std::string_view key, const std::filesystem::path& path, FileKind kind,
                                    const ServiceUser& self);
Result<std::string> ReadPrivateKeyFile(std::string_view key, const std::filesystem::path& path, const ServiceUser& self);

}  // namespace edge::controller
