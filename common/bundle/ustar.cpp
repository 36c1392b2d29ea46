#include "common/bundle/ustar.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

namespace edge::bundle::ustar {
namespace {

// Field offsets and widths of the ustar header.
struct Field {
  size_t offset;
  size_t width;
};
constexpr Field kName{0, 100};
constexpr Field kMode{100, 8};
constexpr Field kUid{108, 8};
constexpr Field kGid{116, 8};
constexpr Field kSize{124, 12};
constexpr Field kMtime{136, 12};
constexpr Field kChecksum{148, 8};
constexpr size_t kTypeOffset = 156;
constexpr Field kMagic{257, 8};  // "ustar\0" and version "00"
constexpr Field kPrefix{345, 155};
constexpr std::string_view kMagicValue{"ustar\0" "00", 8};

std::string_view View(const Block& block, Field f) { return {block.data() + f.offset, f.width}; }

// Up to the first NUL: how ustar stores names that are shorter than their field.
std::string_view CString(const Block& block, Field f) {
  auto v = View(block, f);
  return v.substr(0, std::min(v.size(), v.find('\0')));
}

// `width - 1` zero-padded octal digits and a NUL.
bool WriteOctal(Block& block, Field f, uint64_t value) {
  if (f.width - 1 < 22 && value >> (3 * (f.width - 1)) != 0) return false;
  for (size_t i = f.width - 1; i-- > 0; value >>= 3) block[f.offset + i] = static_cast<char>('0' + (value & 7));
  block[f.offset + f.width - 1] = '\0';
  return true;
}

// Plain octal, optionally space-padded in front and NUL- or space-terminated. The base-256 form
// (high bit set) that GNU tar uses for huge sizes is refused: bundle files never need it.
std::optional<uint64_t> ParseOctal(std::string_view field) {
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  uint64_t value = 0;
  size_t digits = 0;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i, ++digits) value = value * 8 + static_cast<uint64_t>(field[i] - '0');
  if (digits == 0) return std::nullopt;
  for (; i < field.size(); ++i)
    if (field[i] != '\0' && field[i] != ' ') return std::nullopt;
  return value;
}

// Unsigned sum of the header's bytes with the checksum field counted as eight spaces.
uint64_t Checksum(const Block& block) {
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlockSize; ++i) {
    const bool in_field = i >= kChecksum.offset && i < kChecksum.offset + kChecksum.width;
    sum += in_field ? uint64_t{' '} : static_cast<unsigned char>(block[i]);
  }
  return sum;
}

std::string TypeName(char type) {
  switch (type) {
    case '1': return "hard link";
    case '2': return "symbolic link";
    case '3': return "character device";
    case '4': return "block device";
    case '5': return "directory";
    case '6': return "FIFO";
    case '7': return "contiguous file";
    case 'x': return "pax extended header";
    case 'g': return "pax global header";
    case 'L':
    case 'K': return "GNU long-name header";
    default: return "entry of type '" + Printable(std::string_view(&type, 1)) + "'";
  }
}

bool HasDotDot(std::string_view path) {
  for (size_t start = 0; start <= path.size();) {
    const size_t end = std::min(path.find('/', start), path.size());
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 120)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (text.size() > 120) out += "...";
  return out;
}

bool IsZeroBlock(const Block& block) {
  return std::all_of(block.begin(), block.end(), [](char c) { return c == '\0'; });
}

Result<Block> RegularFileHeader(std::string_view name, uint64_t size) {
  Block block{};
  if (name.empty() || name.size() > kName.width)
    return Fail(ErrorCode::kInvalidArgument, "tar entry name '" + Printable(name) + "' does not fit a ustar header");
  std::memcpy(block.data(), name.data(), name.size());
  WriteOctal(block, kMode, 0644);
  WriteOctal(block, kUid, 0);
  WriteOctal(block, kGid, 0);
  if (!WriteOctal(block, kSize, size))
    return Fail(ErrorCode::kInvalidArgument, "tar entry '" + Printable(name) + "' is too large for a ustar header");
  WriteOctal(block, kMtime, 0);
  block[kTypeOffset] = '0';
  std::memcpy(block.data() + kMagic.offset, kMagicValue.data(), kMagicValue.size());
  // Six digits, NUL, space: the traditional layout every tar reads.
  char digits[8];
  std::snprintf(digits, sizeof digits, "%06o", static_cast<unsigned>(Checksum(block)));
  std::memcpy(block.data() + kChecksum.offset, digits, 6);
  block[kChecksum.offset + 6] = '\0';
  block[kChecksum.offset + 7] = ' ';
  return block;
}

Result<EntryHeader> ParseHeader(const Block& block, uint64_t offset) {
  const std::string at = " at offset " + std::to_string(offset);
  if (View(block, kMagic) != kMagicValue)
    return Fail(ErrorCode::kDataLoss, "no POSIX ustar header" + at + " (not a bundle file, or a corrupt one)");
  const auto stored = ParseOctal(View(block, kChecksum));
  if (!stored || *stored != Checksum(block))
    return Fail(ErrorCode::kDataLoss, "bad header checksum" + at + " (the file is corrupt)");

  EntryHeader header;
  const auto prefix = CString(block, kPrefix);
  header.name = prefix.empty() ? std::string(CString(block, kName))
                               : std::string(prefix) + "/" + std::string(CString(block, kName));
  const std::string entry = "entry '" + Printable(header.name) + "'" + at;
  // The reader only ever builds paths from manifest digests, but these are the classic tar
  // attacks and deserve their own message.
  if (header.name.empty()) return Fail(ErrorCode::kDataLoss, "entry with an empty name" + at);
  if (header.name.front() == '/') return Fail(ErrorCode::kDataLoss, entry + " has an absolute path");
  if (HasDotDot(header.name)) return Fail(ErrorCode::kDataLoss, entry + " has a '..' path component");
  const char type = block[kTypeOffset];
  if (type != '0' && type != '\0')
    return Fail(ErrorCode::kDataLoss, entry + " is a " + TypeName(type) + "; a bundle file holds only regular files");
  const auto size = ParseOctal(View(block, kSize));
  if (!size) return Fail(ErrorCode::kDataLoss, entry + ": size field is not plain octal");
  header.size = *size;
  return header;
}

}  // namespace edge::bundle::ustar
