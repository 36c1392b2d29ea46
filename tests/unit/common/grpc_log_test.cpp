#include "common/tls/grpc_log.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

namespace elog = edge::log;

TEST_CASE("gpr and protobuf severities map to our levels", "[grpc_log]") {
  CHECK(edge::tls::LevelOfGprSeverity(GPR_LOG_SEVERITY_DEBUG) == elog::Level::kDebug);
  CHECK(edge::tls::LevelOfGprSeverity(GPR_LOG_SEVERITY_INFO) == elog::Level::kInfo);
  CHECK(edge::tls::LevelOfGprSeverity(GPR_LOG_SEVERITY_ERROR) == elog::Level::kError);
  CHECK(edge::tls::LevelOfProtobufLevel(google::protobuf::LOGLEVEL_INFO) == elog::Level::kInfo);
  CHECK(edge::tls::LevelOfProtobufLevel(google::protobuf::LOGLEVEL_WARNING) == elog::Level::kWarn);
  CHECK(edge::tls::LevelOfProtobufLevel(google::protobuf::LOGLEVEL_ERROR) == elog::Level::kError);
}

TEST_CASE("gRPC and protobuf log lines come out as our JSON lines", "[grpc_log]") {
  const auto path = std::filesystem::temp_directory_path() / ("grpc_log_test." + std::to_string(::getpid()));
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(fd, 2);
  ::close(fd);
  elog::Init("unit", elog::Level::kInfo);
  edge::tls::RouteLibraryLogs(elog::Level::kInfo);
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_DEBUG);  // the test environment sets GRPC_VERBOSITY=NONE
  gpr_log(GPR_DEBUG, "below our level");
  gpr_log(GPR_ERROR, "Handshake failed with %s", "\"quotes\" and\na newline");
  GOOGLE_LOG(WARNING) << "protobuf says";
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
  elog::Init("edge", elog::Level::kInfo);
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  std::filesystem::remove(path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["component"] == "grpc");
  CHECK(lines[0]["level"] == "error");
  CHECK(lines[0]["msg"] == "Handshake failed with \"quotes\" and\na newline");
  CHECK(lines[0]["file"].get<std::string>().find("grpc_log_test.cpp") != std::string::npos);
  CHECK(lines[0]["line"].is_number());
  CHECK(lines[1]["component"] == "protobuf");
  CHECK(lines[1]["level"] == "warn");
  CHECK(lines[1]["msg"] == "protobuf says");
}
