#include "common/core/config.h"

#include <catch2/catch.hpp>

#include <fstream>

#include "common/core/exit_codes.h"
#include "core/temp_dir.h"

using edge::Error;
using edge::ErrorCode;
using edge::ExitCodeFor;
using edge::kExitBadConfig;
using edge::testing::TempDir;
namespace config = edge::config;

namespace {

std::filesystem::path WriteFile(const TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST_CASE("LoadObject parses a JSON object file", "[config]") {
  TempDir dir;
  auto obj = config::LoadObject(WriteFile(dir, "c.json", R"({"a": 1, "b": "x"})"));
  REQUIRE(obj);
  CHECK((*obj)["a"] == 1);
  CHECK((*obj)["b"] == "x");
}

TEST_CASE("LoadObject errors are kBadConfig and name the file", "[config]") {
  TempDir dir;
  SECTION("missing file") {
    const auto path = dir / "absent.json";
    auto obj = config::LoadObject(path);
    REQUIRE_FALSE(obj);
    CHECK(obj.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(obj.error().message, Catch::Contains(path.string()));
  }
  SECTION("invalid JSON") {
    const auto path = WriteFile(dir, "bad.json", "{\"a\": ");
    auto obj = config::LoadObject(path);
    REQUIRE_FALSE(obj);
    CHECK(obj.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(obj.error().message, Catch::Contains(path.string()) && Catch::Contains("not valid JSON"));
  }
  SECTION("not an object") {
    auto obj = config::LoadObject(WriteFile(dir, "arr.json", "[1, 2]"));
    REQUIRE_FALSE(obj);
    CHECK(obj.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(obj.error().message, Catch::Contains("must be a JSON object"));
  }
  SECTION("larger than 1 MiB") {
    auto obj = config::LoadObject(WriteFile(dir, "big.json", "{\"a\": \"" + std::string(1 << 20, 'x') + "\"}"));
    REQUIRE_FALSE(obj);
    CHECK(obj.error().code == ErrorCode::kBadConfig);
  }
}

// Found by tests/fuzz (fuzz_config): nlohmann reports a number that overflows a double as
// out_of_range, not parse_error, so LoadObject let it escape and the daemon died in
// std::terminate instead of exiting 78 with a message.
TEST_CASE("LoadObject: a number too large for a double is kBadConfig, not an exception", "[config]") {
  TempDir dir;
  for (const std::string number : {"1e999", "-1e999"}) {
    const auto path = WriteFile(dir, "overflow.json", R"({"report_interval_seconds": )" + number + "}");
    auto obj = config::LoadObject(path);
    REQUIRE_FALSE(obj);
    CHECK(obj.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(obj.error().message, Catch::Contains(path.string()) && Catch::Contains("number overflow"));
  }
}

TEST_CASE("RejectUnknownKeys names the unknown key and the context", "[config]") {
  const auto obj = nlohmann::json::parse(R"({"known": 1, "typo_key": 2})");
  auto s = config::RejectUnknownKeys(obj, {"known"}, "test config");
  REQUIRE_FALSE(s);
  CHECK(s.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(s.error().message, Catch::Contains("'typo_key'") && Catch::Contains("test config") &&
                                    Catch::Contains("known keys: known"));
  CHECK(config::RejectUnknownKeys(obj, {"known", "typo_key"}, "test config"));
  CHECK_FALSE(config::RejectUnknownKeys(nlohmann::json::array(), {"known"}, "test config"));
}

TEST_CASE("GetString: present, fallback, missing, wrong type", "[config]") {
  const auto obj = nlohmann::json::parse(R"({"s": "value", "n": 5})");
  CHECK(config::GetString(obj, "s").value() == "value");
  CHECK(config::GetString(obj, "absent", std::string("dflt")).value() == "dflt");
  auto missing = config::GetString(obj, "absent");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(missing.error().message, Catch::Contains("missing required key 'absent'"));
  auto wrong = config::GetString(obj, "n", std::string("dflt"));
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(wrong.error().message, Catch::Contains("'n' must be a string"));
}

TEST_CASE("GetInt: ranges and types", "[config]") {
  const auto obj = nlohmann::json::parse(R"({"i": 10, "neg": -3, "f": 1.5, "s": "10", "b": true})");
  CHECK(config::GetInt(obj, "i").value() == 10);
  CHECK(config::GetInt(obj, "neg").value() == -3);
  CHECK(config::GetInt(obj, "absent", 7).value() == 7);
  CHECK(config::GetInt(obj, "i", std::nullopt, 10, 10).value() == 10);  // bounds are inclusive

  auto low = config::GetInt(obj, "i", std::nullopt, 11, 20);
  REQUIRE_FALSE(low);
  CHECK(low.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(low.error().message, Catch::Contains("'i' = 10 is out of range [11, 20]"));
  auto high = config::GetInt(obj, "i", std::nullopt, 0, 9);
  REQUIRE_FALSE(high);
  CHECK_THAT(high.error().message, Catch::Contains("out of range"));

  for (const char* key : {"f", "s", "b"}) {
    auto wrong = config::GetInt(obj, key, 1);
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(wrong.error().message, Catch::Contains("must be an integer"));
  }
  auto missing = config::GetInt(obj, "absent");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("missing required key 'absent'"));
}

TEST_CASE("GetInt refuses integers beyond int64 instead of wrapping them", "[config]") {
  const auto obj = nlohmann::json::parse(R"({"huge": 9223372036854775808, "max": 9223372036854775807})");
  CHECK(config::GetInt(obj, "max").value() == INT64_MAX);
  auto huge = config::GetInt(obj, "huge");
  REQUIRE_FALSE(huge);
  CHECK(huge.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(huge.error().message, Catch::Contains("'huge'") && Catch::Contains("out of range"));
  CHECK_FALSE(config::GetInt(obj, "huge", 1, 0, INT64_MAX));
}

TEST_CASE("GetBool: present, fallback, wrong type", "[config]") {
  const auto obj = nlohmann::json::parse(R"({"t": true, "f": false, "n": 1})");
  CHECK(config::GetBool(obj, "t").value());
  CHECK_FALSE(config::GetBool(obj, "f").value());
  CHECK(config::GetBool(obj, "absent", true).value());
  auto wrong = config::GetBool(obj, "n", false);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(wrong.error().message, Catch::Contains("'n' must be true or false"));
  CHECK_FALSE(config::GetBool(obj, "absent"));
}

TEST_CASE("One exit-code mapping: sysexits codes for config, permission and reachability", "[config]") {
  CHECK(kExitBadConfig == 78);
  CHECK(ExitCodeFor(Error{ErrorCode::kBadConfig, "x"}) == 78);
  CHECK(ExitCodeFor(Error{ErrorCode::kPermissionDenied, "x"}) == 77);
  CHECK(ExitCodeFor(Error{ErrorCode::kUnauthenticated, "x"}) == 77);
  CHECK(ExitCodeFor(Error{ErrorCode::kUnavailable, "x"}) == 69);
  CHECK(ExitCodeFor(Error{ErrorCode::kDeadlineExceeded, "x"}) == 75);  // timed out, not unreachable
  CHECK(ExitCodeFor(Error{ErrorCode::kDataLoss, "x"}) == 1);
  CHECK(ExitCodeFor(Error{ErrorCode::kInvalidArgument, "x"}) == 1);
}

TEST_CASE("GetString: a required key given as empty is an error, an optional one is not", "[config]") {
  const auto obj = nlohmann::json::parse(R"({"s": ""})");
  auto required = config::GetString(obj, "s");
  REQUIRE_FALSE(required);
  CHECK(required.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(required.error().message, Catch::Contains("'s' must not be empty"));
  CHECK(config::GetString(obj, "s", std::string("x")).value().empty());
}
