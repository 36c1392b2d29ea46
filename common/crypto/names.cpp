// Fleet names and SPIFFE IDs. Names end up in certificate SANs, file paths and database rows,
// so they are restricted to a small alphabet: no '/', quotes, spaces or control characters.
#include <array>

#include "common/crypto/x509.h"

namespace edge::crypto {

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  // "." and ".." would be path traversal wherever a name becomes a path component.
  if (name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool IsValidLabel(std::string_view label) {
  if (label.empty() || label.size() > 64) return false;
  if (label.front() == '.' || label.front() == '-' || label.front() == ' ' || label.back() == ' ') return false;
  for (char c : label) {
    if (c < 0x20 || c > 0x7e || c == '/' || c == '\\' || c == ':') return false;
  }
  return true;
}

Result<SpiffeId> ParseSpiffeId(std::string_view uri) {
  constexpr std::string_view kScheme = "spiffe://";
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                "SPIFFE ID '" + std::string(uri.substr(0, 200)) + "': " + std::string(why));
  };
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return bad("must start with spiffe://");
  }
  std::string_view rest = uri.substr(kScheme.size());
  std::array<std::string_view, 3> parts;
  for (size_t i = 0; i < parts.size(); ++i) {
    size_t slash = rest.find('/');
    if (i + 1 < parts.size()) {
      if (slash == std::string_view::npos) {
        return bad("expected spiffe://<fleet>/<kind>/<name>");
      }
      parts[i] = rest.substr(0, slash);
      rest = rest.substr(slash + 1);
    } else {
      if (slash != std::string_view::npos) {
        return bad("too many path segments");
      }
      parts[i] = rest;
    }
  }
  for (auto part : parts) {
    if (!IsValidName(part)) {
      return bad("segment '" + std::string(part.substr(0, 80)) + "' is not [A-Za-z0-9._-]{1,64}");
    }
  }
  if (parts[1] != "device" && parts[1] != "operator" && parts[1] != "controller") {
    return bad("kind must be device, operator or controller");
  }
  return SpiffeId{std::string(parts[0]), std::string(parts[1]), std::string(parts[2])};
}

}  // namespace edge::crypto
