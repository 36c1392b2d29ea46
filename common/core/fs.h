// Filesystem operations with the durability the agent and controller rely on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "common/core/result.h"

namespace edge::fs {

// Reads a whole regular file (OpenRegularFile in posix_file.h: a FIFO, device, socket or
// directory is refused without blocking), refusing files larger than `max_bytes`.
Result<std::string> ReadFile(const std::filesystem::path& path, uint64_t max_bytes);
// Writes `data` to a temp file beside `path`, fsyncs it, renames it over `path` and fsyncs the
// directory: after a crash the file is either the old or the new content, never a mix.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, mode_t mode = 0644);
// The same, but never replaces anything at `path` (a file, a directory, a dangling symlink),
// even one created while the data was being written: the final move is renameat2 with
// RENAME_NOREPLACE. Fails with kAlreadyExists then, with the temp file removed.
Status WriteFileNoReplace(const std::filesystem::path& path, std::string_view data, mode_t mode = 0644);
// Replaces (or creates) the symlink `link` → `target` atomically, with the same durability.
Status ReplaceSymlink(const std::filesystem::path& target, const std::filesystem::path& link);
Status FsyncPath(const std::filesystem::path& path);
// mkdir -p with `mode` for created directories.
Status CreateDirectories(const std::filesystem::path& path, mode_t mode = 0755);
// Free bytes available to unprivileged users on the filesystem holding `path`.
Result<uint64_t> FreeBytes(const std::filesystem::path& path);
// Errno text for messages.
std::string ErrnoText(int err);

}  // namespace edge::fs
