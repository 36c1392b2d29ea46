#include <string>

#include "common/bundle/bundle.h"

namespace edge::bundle {

// A single pass that counts open brackets outside strings. It does not validate JSON (the
// parser does that next); it only guarantees the recursive parser never sees deep nesting.
Status CheckJsonDepth(std::string_view json, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          return Fail(ErrorCode::kInvalidArgument,
                      "JSON nested deeper than " + std::to_string(max_depth) +
                          " levels (at byte " + std::to_string(i) + ")");
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return Ok();
}

Result<nlohmann::json> ParseJsonLimited(std::string_view json, std::string_view what,
                                        size_t max_bytes) {
  if (json.size() > max_bytes) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": " + std::to_string(json.size()) +
                                                 " bytes exceeds the limit of " +
                                                 std::to_string(max_bytes));
  }
  if (auto depth = CheckJsonDepth(json); !depth) return Fail(depth.error().Wrap(what));
  try {
    return nlohmann::json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": invalid JSON: " + e.what());
  }
}

}  // namespace edge::bundle
