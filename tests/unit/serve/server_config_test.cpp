#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>

#include "tests/unit/serve/serve_fixtures.h"

namespace edge::serve {
namespace {

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

uint32_t ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// A socket file nobody listens on, as a crashed agent leaves behind.
void MakeStaleSocket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
}

bool Live(const std::string& target) {
  wire::Client client(target);
  auto reply = client.Call("ServerLive", "");
  return reply.status.ok() && wire::DecodeBoolField1(reply.body);
}

TEST_CASE("server config: only loopback tcp addresses are accepted") {
  ServeConfig config;
  config.unix_socket.clear();
  for (const char* bad : {"0.0.0.0:8001", "10.1.2.3:8001", "[::]:8001", "localhost:8001", "example.com:1",
                          "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http", "[::1]"}) {
    config.tcp_address = bad;
    auto status = ValidateServeConfig(config);
    INFO(bad);
    REQUIRE_FALSE(status.has_value());
    CHECK(status.error().code == ErrorCode::kBadConfig);
  }
  for (const char* good : {"127.0.0.1:0", "127.0.0.1:8001", "127.10.0.3:65535", "[::1]:8001"}) {
    config.tcp_address = good;
    INFO(good);
    CHECK(ValidateServeConfig(config).has_value());
  }

  Registry registry;
  config.tcp_address = "0.0.0.0:0";
  auto refused = InferenceServer::Start(config, registry);
  REQUIRE_FALSE(refused.has_value());
  CHECK_THAT(refused.error().message, Catch::Contains("is not a loopback address"));
}

TEST_CASE("server config: a loopback tcp port serves next to the unix socket") {
  edge::testing::TempDir temp;
  Registry registry;
  ServeConfig config;
  config.unix_socket = (temp.path() / "infer.sock").string();
  config.tcp_address = "127.0.0.1:0";
  auto server = InferenceServer::Start(config, registry);
  INFO((server ? "" : server.error().message));
  REQUIRE(server.has_value());
  REQUIRE((*server)->tcp_port() > 0);
  CHECK(Live("127.0.0.1:" + std::to_string((*server)->tcp_port())));
  CHECK(Live("unix:" + config.unix_socket));
}

TEST_CASE("server config: a path that is not a socket is refused and left intact") {
  edge::testing::TempDir temp;
  const auto path = temp.path() / "infer.sock";
  std::ofstream(path) << "precious";
  Registry registry;
  ServeConfig config;
  config.unix_socket = path.string();
  auto server = InferenceServer::Start(config, registry);
  REQUIRE_FALSE(server.has_value());
  CHECK(server.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(server.error().message, Catch::Contains("exists and is not a socket"));
  CHECK(ReadAll(path) == "precious");

  std::filesystem::remove(path);
  std::filesystem::create_directory(path);
  CHECK_FALSE(InferenceServer::Start(config, registry).has_value());
  CHECK(std::filesystem::is_directory(path));
}

TEST_CASE("server config: socket permissions, parent directory, stale and live sockets, shutdown") {
  edge::testing::TempDir temp;
  Registry registry;
  ServeConfig config;
  config.unix_socket = (temp.path() / "run" / "edge-agent" / "infer.sock").string();  // parent created

  SECTION("the socket gets socket_mode and is removed on shutdown") {
    for (uint32_t mode : {0660u, 0600u, 0666u}) {
      config.socket_mode = mode;
      auto server = InferenceServer::Start(config, registry);
      INFO((server ? "" : server.error().message));
      REQUIRE(server.has_value());
      CHECK(ModeOf(config.unix_socket) == mode);
      CHECK(Live("unix:" + config.unix_socket));
      (*server)->Shutdown();
      CHECK_FALSE(std::filesystem::exists(config.unix_socket));
    }
  }
  SECTION("a stale socket is replaced") {
    std::filesystem::create_directories(std::filesystem::path(config.unix_socket).parent_path());
    MakeStaleSocket(config.unix_socket);
    auto server = InferenceServer::Start(config, registry);
    INFO((server ? "" : server.error().message));
    REQUIRE(server.has_value());
    CHECK(Live("unix:" + config.unix_socket));
  }
  SECTION("a socket another server answers on is not stolen") {
    auto first = InferenceServer::Start(config, registry);
    REQUIRE(first.has_value());
    auto second = InferenceServer::Start(config, registry);
    REQUIRE_FALSE(second.has_value());
    CHECK(second.error().code == ErrorCode::kAlreadyExists);
    CHECK(Live("unix:" + config.unix_socket));
  }
}

TEST_CASE("server config: invalid settings are refused with a reason") {
  Registry registry;
  ServeConfig config;
  config.unix_socket = "/tmp/" + std::string(200, 'x') + "/infer.sock";
  auto status = ValidateServeConfig(config);
  REQUIRE_FALSE(status.has_value());
  CHECK_THAT(status.error().message, Catch::Contains("a unix socket path holds at most 107"));

  config = ServeConfig{};
  config.unix_socket.clear();
  CHECK_THAT(ValidateServeConfig(config).error().message, Catch::Contains("neither a unix socket nor a tcp address"));

  config = ServeConfig{};
  config.max_request_bytes = 0;
  CHECK_FALSE(ValidateServeConfig(config).has_value());
  config = ServeConfig{};
  config.max_contexts_per_model = 0;
  CHECK_FALSE(ValidateServeConfig(config).has_value());
  config = ServeConfig{};
  config.socket_mode = 01777;
  CHECK_FALSE(ValidateServeConfig(config).has_value());
}

}  // namespace
}  // namespace edge::serve
