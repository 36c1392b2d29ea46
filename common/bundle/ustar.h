// The few pieces of the POSIX ustar format (pax interchange format's base, IEEE 1003.1) that
// bundle files use: 512-byte header blocks with octal fields and a checksum. Internal to
// edge_bundle; bundle_file.h is the interface.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/core/result.h"

namespace edge::bundle::ustar {

inline constexpr size_t kBlockSize = 512;
using Block = std::array<char, kBlockSize>;

struct EntryHeader {
  std::string name;  // prefix and name joined with '/'
  uint64_t size = 0;
};

// The header of a regular file: mode 0644, uid, gid and mtime 0, no user or group names.
// `name` must fit the 100-byte name field; `size` the 11 octal digits of the size field.
Result<Block> RegularFileHeader(std::string_view name, uint64_t size);
bool IsZeroBlock(const Block& block);
// Decodes a header block found at `offset` in `file` (both for messages). Refuses what is not a
// ustar header, a bad checksum, a size field that is not plain octal, absolute names, names with
// a ".." component, and every entry type but a regular file.
Result<EntryHeader> ParseHeader(const Block& block, uint64_t offset);
// Bytes of zero padding that follow `size` bytes of data to end on a block boundary.
inline size_t PaddingAfter(uint64_t size) {
  return static_cast<size_t>((kBlockSize - size % kBlockSize) % kBlockSize);
}
// `text` cut to 120 characters with non-printable bytes as '?', for error messages.
std::string Printable(std::string_view text);

}  // namespace edge::bundle::ustar
