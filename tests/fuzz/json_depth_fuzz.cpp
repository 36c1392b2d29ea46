// CheckJsonDepth is the guard that keeps deep nesting away from the recursive JSON code; this
// target checks it against nlohmann's own parser (run as SAX, so it builds nothing and cannot
// recurse): any document CheckJsonDepth lets through must nest at most `limit` levels. The
// first byte picks a small limit so that bypasses are cheap to find. ParseJsonLimited (depth,
// size and duplicate-key checks before the DOM parse) runs on the same bytes.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "tests/fuzz/fuzz_support.h"

using namespace edge;

namespace {

// Records the deepest nesting the parser reached.
class DepthProbe : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return Open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  int max_depth() const { return max_; }

 private:
  bool Open() {
    max_ = std::max(max_, ++depth_);
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }
  int depth_ = 0;
  int max_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int limit = 1 + data[0] % 8;
  const auto json = fuzz::AsText(data + 1, size - 1);

  if (bundle::CheckJsonDepth(json, limit)) {
    DepthProbe probe;
    (void)nlohmann::json::sax_parse(json.begin(), json.end(), &probe);
    if (probe.max_depth() > limit)
      fuzz::Die("CheckJsonDepth passed a document nlohmann parses deeper",
                std::to_string(probe.max_depth()) + " > " + std::to_string(limit));
  }
  auto parsed = bundle::ParseJsonLimited(json, "fuzz input");
  if (parsed && !bundle::CheckJsonDepth(json)) fuzz::Die("ParseJsonLimited skipped the depth check");
  return 0;
}
