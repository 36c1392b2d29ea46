#include <set>
#include <string>
#include <vector>

#include "common/bundle/bundle.h"

namespace edge::bundle {
namespace {

// Rejects an object with the same key twice. nlohmann keeps the last value silently, other
// parsers keep the first: a signed document must not mean different things to different readers.
class DuplicateKeyCheck : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& key) override {
    if (!keys_.back().insert(key).second) {
      error_ = "duplicate key '" + key.substr(0, 64) + "'";
      return false;
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = std::string("invalid JSON: ") + e.what();
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  std::vector<std::set<std::string>> keys_;
  std::string error_;
};

}  // namespace

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
                      "JSON nested deeper than " + std::to_string(max_depth) + " levels (at byte " +
                          std::to_string(i) + ")");
        }
        break;
      case ']':
      case '}':
        if (depth > 0) {
          --depth;
        }
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
    return Fail(ErrorCode::kInvalidArgument,
                std::string(what) + ": " + std::to_string(json.size()) +
                    " bytes exceeds the limit of " + std::to_string(max_bytes));
  }
  if (auto depth = CheckJsonDepth(json); !depth) {
    return Fail(depth.error().Wrap(what));
  }
  try {
    DuplicateKeyCheck check;
    if (!nlohmann::json::sax_parse(json.begin(), json.end(), &check)) {
      return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": " + check.error());
    }
    return nlohmann::json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": invalid JSON: " + e.what());
  }
}

}  // namespace edge::bundle
