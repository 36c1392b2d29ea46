#include "common/core/log.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <sstream>
#include <vector>

#include "common/core/fs.h"
#include "core/temp_dir.h"

using edge::testing::TempDir;
namespace elog = edge::log;

namespace {

// Runs `body` with stderr redirected to a file and returns the JSON lines written.
template <typename F>
std::vector<nlohmann::json> CaptureStderr(F body) {
  TempDir dir;
  const auto path = dir / "stderr";
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(fd, 2);
  ::close(fd);
  body();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::vector<nlohmann::json> lines;
  std::istringstream in(edge::fs::ReadFile(path, 1 << 20).value());
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

}  // namespace

TEST_CASE("ParseLevel accepts the four names and rejects others", "[log]") {
  CHECK(elog::ParseLevel("debug").value() == elog::Level::kDebug);
  CHECK(elog::ParseLevel("info").value() == elog::Level::kInfo);
  CHECK(elog::ParseLevel("warn").value() == elog::Level::kWarn);
  CHECK(elog::ParseLevel("error").value() == elog::Level::kError);
  auto bad = elog::ParseLevel("verbose");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == edge::ErrorCode::kInvalidArgument);
  CHECK_THAT(bad.error().message, Catch::Contains("'verbose'"));
}

TEST_CASE("Write emits one JSON object per line with fields, filtered by level", "[log]") {
  auto lines = CaptureStderr([] {
    elog::Init("unit", elog::Level::kInfo);
    elog::Debug("hidden");
    elog::Info("hello", {{"device", "d1"}, {"n", 3}});
    elog::Error("bad thing");
    elog::Init("edge", elog::Level::kInfo);
  });
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["level"] == "info");
  CHECK(lines[0]["component"] == "unit");
  CHECK(lines[0]["msg"] == "hello");
  CHECK(lines[0]["device"] == "d1");
  CHECK(lines[0]["n"] == 3);
  CHECK(lines[0]["ts"].get<std::string>().size() == 24);  // 2026-01-02T03:04:05.678Z
  CHECK(lines[1]["level"] == "error");
  CHECK(lines[1]["msg"] == "bad thing");
}

TEST_CASE("Fields cannot overwrite the timestamp, level, component or message", "[log]") {
  auto lines = CaptureStderr([] {
    elog::Init("unit", elog::Level::kInfo);
    elog::Info("real message", {{"level", "error"}, {"msg", "forged"}, {"component", "x"}, {"ts", "0"}, {"k", 1}});
    elog::Init("edge", elog::Level::kInfo);
  });
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["level"] == "info");
  CHECK(lines[0]["msg"] == "real message");
  CHECK(lines[0]["component"] == "unit");
  CHECK(lines[0]["ts"] != "0");
  CHECK(lines[0]["k"] == 1);
}

namespace {
std::vector<std::string> g_sunk;
bool AcceptingSink(const elog::Record& r) {
  g_sunk.push_back(std::string(r.component) + "|" + elog::LevelName(r.level) + "|" + std::string(r.message) + "|" +
                   r.fields.dump());
  return true;
}
bool RefusingSink(const elog::Record&) { return false; }
}  // namespace

TEST_CASE("A sink takes the lines and one that refuses a line leaves it to stderr", "[log]") {
  g_sunk.clear();
  auto lines = CaptureStderr([] {
    elog::Init("unit", elog::Level::kInfo);
    elog::SetSink(AcceptingSink);
    elog::Info("to the sink", {{"device", "d1"}, {"msg", "forged"}});
    elog::Debug("filtered before the sink");
    elog::SetSink(RefusingSink);
    elog::Warn("back to stderr");
    elog::SetSink(nullptr);
    elog::Init("edge", elog::Level::kInfo);
  });
  REQUIRE(g_sunk.size() == 1);
  CHECK(g_sunk[0] == R"(unit|info|to the sink|{"device":"d1"})");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["msg"] == "back to stderr");
  CHECK(lines[0]["level"] == "warn");
}

TEST_CASE("WriteAs names another component under the same level filter", "[log]") {
  auto lines = CaptureStderr([] {
    elog::Init("controller", elog::Level::kWarn);
    elog::WriteAs("grpc", elog::Level::kInfo, "below the level", {});
    elog::WriteAs("grpc", elog::Level::kError, "Handshake failed", {{"file", "ssl.cc"}, {"line", 7}, {"component", "x"}});
    elog::Init("edge", elog::Level::kInfo);
  });
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["component"] == "grpc");
  CHECK(lines[0]["level"] == "error");
  CHECK(lines[0]["file"] == "ssl.cc");
  CHECK(lines[0]["line"] == 7);
}
