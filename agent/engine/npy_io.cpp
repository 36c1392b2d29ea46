#include "agent/engine/npy_io.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>

#include "agent/engine/const_tensor.h"

namespace edge::engine {

Result<NpyArray> ParseNpy(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    return Fail(ErrorCode::kInvalidArgument, what + ": not a NumPy .npy file");
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (size_t{static_cast<uint8_t>(bytes[9])} << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Fail(ErrorCode::kDataLoss, what + ": truncated header");
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    start = 12;
  } else {
    return Fail(ErrorCode::kInvalidArgument, what + ": unsupported .npy version");
  }
  if (start + header_len > bytes.size()) return Fail(ErrorCode::kDataLoss, what + ": truncated header");
  const std::string header = bytes.substr(start, header_len);
  if (header.find("'descr': '<f4'") == std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument, what + ": only float32 (<f4) arrays are supported; convert with x.astype(np.float32)");
  }
  if (header.find("'fortran_order': False") == std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument, what + ": only C-order arrays are supported");
  }
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'shape': \\(([^)]*)\\)"))) {
    return Fail(ErrorCode::kInvalidArgument, what + ": header has no shape");
  }
  NpyArray a;
  const std::string dims = m[1];
  // Each comma-separated entry is a non-negative integer (a trailing comma ends a 1-D shape):
  // "-1" is not read as 1, nor anything else skipped over.
  size_t pos = 0;
  while (pos <= dims.size()) {
    const size_t comma = std::min(dims.find(',', pos), dims.size());
    std::string d = dims.substr(pos, comma - pos);
    d.erase(0, d.find_first_not_of(" \t"));
    d.erase(d.find_last_not_of(" \t") + 1);
    pos = comma + 1;
    if (d.empty() && comma == dims.size()) break;  // after the last comma, or "()"
    if (d.empty() || d.find_first_not_of("0123456789") != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  what + ": header shape (" + dims + ") has dimension '" + d + "', not a non-negative integer" +
                      (d.rfind('-', 0) == 0 ? " (a negative dimension)" : ""));
    }
    if (d.size() > 12) return Fail(ErrorCode::kInvalidArgument, what + ": dimension too large");
    a.shape.push_back(std::stoll(d));
  }
  int64_t count = 1;
  for (int64_t d : a.shape) {
    count *= d;
    if (count > kMaxTensorElements) return Fail(ErrorCode::kResourceExhausted, what + ": array too large");
  }
  const size_t offset = start + header_len;
  if (bytes.size() - offset != static_cast<size_t>(count) * 4) {
    return Fail(ErrorCode::kDataLoss, what + ": data size does not match the shape");
  }
  a.data.resize(static_cast<size_t>(count));
  std::memcpy(a.data.data(), bytes.data() + offset, static_cast<size_t>(count) * 4);
  return a;
}

Result<NpyArray> ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot open " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseNpy(bytes, path);
}

Status WriteNpy(const std::string& path, const NpyArray& array) {
  std::string shape = "(";
  for (size_t i = 0; i < array.shape.size(); ++i) {
    shape += std::to_string(array.shape[i]) + (array.shape.size() == 1 ? "," : i + 1 < array.shape.size() ? ", " : "");
  }
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Fail(ErrorCode::kIo, "cannot write " + path);
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(magic, 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xFF));
  out.put(static_cast<char>(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(array.data.data()),
            static_cast<std::streamsize>(array.data.size() * sizeof(float)));
  if (!out) return Fail(ErrorCode::kIo, "error writing " + path);
  return Ok();
}

}  // namespace edge::engine
