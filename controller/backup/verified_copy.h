// Copying content-addressed files with their digest checked on the way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <sys/types.h>

#include "common/core/result.h"

namespace edge::controller::backup {

// Reads `from` once, checking that it is `size` bytes with SHA-256 `sha256` (lower-case hex),
// and if `to` is not empty writes the same bytes to the new file `to` (mode `mode`), fsynced.
// A file that does not check out leaves no `to` behind. Errors name the file: kNotFound (no
// such file), kDataLoss (size or digest differ), kIo.
Status CopyVerified(const std::filesystem::path& from, const std::filesystem::path& to, std::string_view sha256,
                    uint64_t size, mode_t mode = 0640);

}  // namespace edge::controller::backup
