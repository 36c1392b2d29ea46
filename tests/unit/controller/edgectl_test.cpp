#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/bundle/bundle.h"
#include "common/core/fs.h"
#include "common/crypto/ed25519.h"
#include "controller/edgectl/context.h"
#include "controller/edgectl/controller_address.h"
#include "controller/edgectl/pki.h"
#include "controller/edgectl/remote.h"
#include "core/temp_dir.h"
#include "tests/unit/core/test_files.h"

using edge::ErrorCode;
using edge::edgectl::Context;
using edge::edgectl::LoadContext;
using edge::edgectl::ParseDurationSeconds;
using edge::testing::TempDir;
namespace stdfs = std::filesystem;

namespace {

using edge::testing::ModeOf;
using edge::testing::ReadAll;

}  // namespace

TEST_CASE("ParseDurationSeconds accepts plain seconds and s, m, h, d", "[edgectl][duration]") {
  CHECK(ParseDurationSeconds("90").value() == 90);
  CHECK(ParseDurationSeconds("90s").value() == 90);
  CHECK(ParseDurationSeconds("15m").value() == 900);
  CHECK(ParseDurationSeconds("2h").value() == 7200);
  CHECK(ParseDurationSeconds("7d").value() == 7 * 86400);
  CHECK(ParseDurationSeconds("365d").value() == 365 * 86400);
}

TEST_CASE("ParseDurationSeconds rejects bad input with a hint", "[edgectl][duration]") {
  for (const char* text : {"", "abc", "10x", "10ms", "1.5h", "0", "0s", "-5m", "h", "5 m", "5mm"}) {
    INFO("'" << text << "'");
    auto r = ParseDurationSeconds(text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
  }
  CHECK_THAT(ParseDurationSeconds("10x").error().message, Catch::Contains("'10x'") && Catch::Contains("15m"));
}

TEST_CASE("ParseDurationSeconds caps the total at one year, whatever the unit", "[edgectl][duration]") {
  CHECK(ParseDurationSeconds(std::to_string(365 * 86400)).value() == 365 * 86400);
  CHECK_FALSE(ParseDurationSeconds(std::to_string(365 * 86400 + 1)));
  CHECK_FALSE(ParseDurationSeconds("366d"));
  CHECK_FALSE(ParseDurationSeconds("8761h"));
  CHECK_FALSE(ParseDurationSeconds("1000000d"));
  CHECK_FALSE(ParseDurationSeconds("99999999999999999999d"));  // out of range for stoll
}

TEST_CASE("LoadContext reads the current context and resolves relative paths", "[edgectl][context]") {
  TempDir dir;
  const auto file = dir / "config";
  std::ofstream(file) << R"({"current_context": "acme",
    "contexts": {"acme": {"controller": "ctl.example:7445", "ca": "pki/fleet-ca.pem",
                          "cert": "/abs/admin.pem", "key": "pki/admin.key"},
                 "lab": {"controller": "lab:7445", "ca": "a", "cert": "b", "key": "c"}}})";
  auto c = LoadContext(file, "");
  REQUIRE(c);
  CHECK(c->name == "acme");
  CHECK(c->controller == "ctl.example:7445");
  CHECK(c->ca == dir / "pki" / "fleet-ca.pem");
  CHECK(c->cert == "/abs/admin.pem");
  CHECK(c->key == dir / "pki" / "admin.key");

  auto lab = LoadContext(file, "lab");
  REQUIRE(lab);
  CHECK(lab->controller == "lab:7445");
  CHECK(lab->ca == dir / "a");
}

TEST_CASE("LoadContext errors are kBadConfig and say what is wrong", "[edgectl][context]") {
  TempDir dir;
  const auto file = dir / "config";
  auto expect = [&](const std::string& text, const std::string& wanted, const std::string& needle) {
    std::ofstream(file, std::ios::trunc) << text;
    auto c = LoadContext(file, wanted);
    REQUIRE_FALSE(c);
    CHECK(c.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(c.error().message, Catch::Contains(needle));
  };
  SECTION("missing file") {
    auto c = LoadContext(dir / "absent", "");
    REQUIRE_FALSE(c);
    CHECK(c.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(c.error().message, Catch::Contains("does not exist") && Catch::Contains("pki init"));
  }
  SECTION("unknown top-level key") { expect(R"({"contexts": {}, "extra": 1})", "", "unknown key 'extra'"); }
  SECTION("no contexts") { expect(R"({"current_context": "acme"})", "", "no \"contexts\" object"); }
  SECTION("no current context") { expect(R"({"contexts": {}})", "", "no current_context"); }
  SECTION("unknown context") { expect(R"({"current_context": "x", "contexts": {}})", "", "no context named 'x'"); }
  SECTION("unknown key in a context") {
    expect(R"({"current_context": "a", "contexts": {"a": {"controller": "c:7445", "ca": "a", "cert": "b", "key": "k",
           "insecure": true}}})",
           "", "unknown key 'insecure'");
  }
  SECTION("missing key in a context") {
    expect(R"({"current_context": "a", "contexts": {"a": {"controller": "c:7445", "ca": "a", "cert": "b"}}})", "",
           "missing required key 'key'");
  }
  SECTION("wrong type") {
    expect(R"({"current_context": "a", "contexts": {"a": {"controller": 1, "ca": "a", "cert": "b", "key": "k"}}})",
           "", "'controller' must be a string");
  }
  SECTION("connect timeout out of range, below gRPC's floor or above a minute") {
    for (const char* ms : {"99", "0", "-5", "60001"}) {
      expect(std::string(R"({"current_context": "a", "contexts": {"a": {"controller": "c:7445", "ca": "a", "cert": "b",
             "key": "k", "connect_timeout_ms": )") + ms + "}}}",
             "", "context 'a': key 'connect_timeout_ms' = " + std::string(ms) + " is out of range [100, 60000]");
    }
  }
  SECTION("a controller address gRPC would only report as unavailable") {
    expect(R"({"current_context": "a", "contexts": {"a": {"controller": "c:70000", "ca": "a", "cert": "b", "key": "k"}}})",
           "", "context 'a': controller address 'c:70000': port 70000 is outside 1..65535");
    expect(R"({"current_context": "a", "contexts": {"a": {"controller": "c", "ca": "a", "cert": "b", "key": "k"}}})",
           "", "context 'a': controller address 'c': no port");
  }
  SECTION("connect timeout of the wrong type") {
    expect(R"({"current_context": "a", "contexts": {"a": {"controller": "c:7445", "ca": "a", "cert": "b", "key": "k",
           "connect_timeout_ms": "10s"}}})",
           "", "'connect_timeout_ms' must be an integer");
  }
}

TEST_CASE("LoadContext: the connect timeout defaults to the slow-link default and can be set", "[edgectl][context]") {
  TempDir dir;
  const auto file = dir / "config";
  std::ofstream(file) << R"({"current_context": "a",
    "contexts": {"a": {"controller": "c:7445", "ca": "a", "cert": "b", "key": "k"},
                 "sat": {"controller": "c:7445", "ca": "a", "cert": "b", "key": "k", "connect_timeout_ms": 30000}}})";
  auto plain = LoadContext(file, "a");
  REQUIRE(plain);
  CHECK(plain->connect_timeout == edge::tls::kDefaultConnectTimeout);
  CHECK(plain->connect_timeout == std::chrono::seconds(10));
  auto sat = LoadContext(file, "sat");
  REQUIRE(sat);
  CHECK(sat->connect_timeout == std::chrono::seconds(30));
}

TEST_CASE("WriteContextFile writes a 0600 file that LoadContext reads back", "[edgectl][context]") {
  TempDir dir;
  const auto file = dir / "sub" / "config";
  Context c{"acme", "ctl:7445", "/p/ca.pem", "/p/admin.pem", "/p/admin.key"};
  REQUIRE(edge::edgectl::WriteContextFile(file, c));
  CHECK(ModeOf(file) == 0600);
  auto back = LoadContext(file, "");
  REQUIRE(back);
  CHECK(back->name == "acme");
  CHECK(back->controller == "ctl:7445");
  CHECK(back->ca == "/p/ca.pem");
  CHECK(back->key == "/p/admin.key");
}

TEST_CASE("WriteContextFile keeps cwd-relative paths pointing at the same files", "[edgectl][context]") {
  // What `edgectl pki init --dir pki` does: paths relative to the working directory, written
  // into pki/edgectl.json, which LoadContext resolves against pki/.
  TempDir dir;
  edge::edgectl::PkiInitOptions o;
  o.dir = stdfs::relative(dir / "pki", stdfs::current_path());
  REQUIRE(o.dir.is_relative());
  o.fleet = "acme";
  o.controller_hosts = {"ctl.example"};
  REQUIRE(edge::edgectl::PkiInit(o));
  Context c{"acme", "ctl.example:7445", o.dir / "fleet-ca.pem", o.dir / "operators" / "admin.pem",
            o.dir / "operators" / "admin.key"};
  REQUIRE(edge::edgectl::WriteContextFile(o.dir / "edgectl.json", c));

  auto back = LoadContext(o.dir / "edgectl.json", "");
  REQUIRE(back);
  for (const auto& [got, want] : {std::pair{back->ca, dir / "pki" / "fleet-ca.pem"},
                                  std::pair{back->cert, dir / "pki" / "operators" / "admin.pem"},
                                  std::pair{back->key, dir / "pki" / "operators" / "admin.key"}}) {
    INFO(got.string());
    REQUIRE(stdfs::exists(got));
    CHECK(stdfs::equivalent(got, want));
  }
  // Stored relative to the config file, so the directory can be moved as a whole.
  const auto json = nlohmann::json::parse(ReadAll(dir / "pki" / "edgectl.json"));
  CHECK(json["contexts"]["acme"]["ca"] == "fleet-ca.pem");
  CHECK(json["contexts"]["acme"]["key"] == "operators/admin.key");
}

TEST_CASE("DefaultConfigPath honours EDGECTL_CONFIG", "[edgectl][context]") {
  const char* old = std::getenv("EDGECTL_CONFIG");
  const std::string saved = old ? old : "";
  ::setenv("EDGECTL_CONFIG", "/tmp/some/edgectl.json", 1);
  CHECK(edge::edgectl::DefaultConfigPath() == "/tmp/some/edgectl.json");
  if (old) ::setenv("EDGECTL_CONFIG", saved.c_str(), 1);
  else ::unsetenv("EDGECTL_CONFIG");
}

TEST_CASE("pki init writes 0600 private keys and a trust policy that verifies", "[edgectl][pki]") {
  TempDir dir;
  edge::edgectl::PkiInitOptions o;
  o.dir = dir / "pki";
  o.fleet = "acme";
  o.controller_hosts = {"ctl.example", "127.0.0.1"};
  REQUIRE(edge::edgectl::PkiInit(o));

  for (const char* key : {"fleet-ca.key", "operator-ca.key", "controller.key", "operators/admin.key",
                          "release-root.key", "release-1.key"}) {
    INFO(key);
    REQUIRE(stdfs::exists(o.dir / key));
    CHECK(ModeOf(o.dir / key) == 0600);
  }
  for (const char* pub : {"fleet-ca.pem", "operator-ca.pem", "controller.pem", "operators/admin.pem",
                          "release-root.pub", "release-1.pub", "trust-policy.json"}) {
    INFO(pub);
    CHECK(stdfs::exists(o.dir / pub));
  }
  CHECK(ModeOf(o.dir) == 0700);

  auto root = edge::crypto::Ed25519PublicKeyFromPem(ReadAll(o.dir / "release-root.pub"));
  REQUIRE(root);
  auto release = edge::crypto::Ed25519PublicKeyFromPem(ReadAll(o.dir / "release-1.pub"));
  REQUIRE(release);
  auto envelope = edge::bundle::ParseEnvelope(ReadAll(o.dir / "trust-policy.json"));
  REQUIRE(envelope);
  auto policy = edge::bundle::VerifyTrustPolicy(*envelope, *root, 1'800'000'000);
  REQUIRE(policy);
  CHECK(policy->fleet == "acme");
  CHECK(policy->version == 1);
  REQUIRE(policy->keys.size() == 1);
  CHECK(policy->keys[0].public_key == *release);
  CHECK(policy->keys[0].models == std::vector<std::string>{"*"});

  // Signed by the root, not by the release key.
  CHECK_FALSE(edge::bundle::VerifyTrustPolicy(*envelope, *release, 1'800'000'000));

  SECTION("a second init refuses to overwrite") {
    const auto before = ReadAll(o.dir / "fleet-ca.key");
    auto again = edge::edgectl::PkiInit(o);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::kAlreadyExists);
    CHECK(ReadAll(o.dir / "fleet-ca.key") == before);
  }
  SECTION("another operator can be issued, once") {
    REQUIRE(edge::edgectl::PkiIssueOperator(o.dir, "acme", "bob"));
    CHECK(ModeOf(o.dir / "operators" / "bob.key") == 0600);
    CHECK(stdfs::exists(o.dir / "operators" / "bob.pem"));
    auto again = edge::edgectl::PkiIssueOperator(o.dir, "acme", "bob");
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::kAlreadyExists);
  }
}

TEST_CASE("pki init validates its options", "[edgectl][pki]") {
  TempDir dir;
  edge::edgectl::PkiInitOptions o;
  o.dir = dir / "pki";
  o.fleet = "bad fleet";
  o.controller_hosts = {"ctl"};
  CHECK(edge::edgectl::PkiInit(o).error().code == ErrorCode::kInvalidArgument);
  o.fleet = "acme";
  o.controller_hosts.clear();
  CHECK(edge::edgectl::PkiInit(o).error().code == ErrorCode::kInvalidArgument);
  o.controller_hosts = {"ctl"};
  o.operator_name = "../evil";
  CHECK(edge::edgectl::PkiInit(o).error().code == ErrorCode::kInvalidArgument);
  CHECK_FALSE(stdfs::exists(o.dir));
}

TEST_CASE("edgectl config: contexts are listed and switched without losing the rest of the file", "[edgectl][context]") {
  TempDir dir;
  const auto file = dir / "config";
  const nlohmann::json original = {
      {"current_context", "plant"},
      {"contexts",
       {{"plant", {{"controller", "ctl.plant:7445"}, {"ca", "ca.pem"}, {"cert", "a.pem"}, {"key", "a.key"}}},
        {"lab", {{"controller", "ctl.lab:7445"}, {"ca", "/abs/ca.pem"}, {"cert", "b.pem"}, {"key", "b.key"},
                 {"connect_timeout_ms", 30000}}}}}};
  std::ofstream(file) << original.dump(2);
  auto list = edge::edgectl::ListContexts(file);
  REQUIRE(list);
  CHECK(list->current == "plant");
  REQUIRE(list->contexts.size() == 2);
  CHECK(list->contexts[0].name == "lab");  // JSON objects are sorted by name
  CHECK(list->contexts[0].connect_timeout.count() == 30000);
  CHECK(list->contexts[1].cert == dir.path() / "a.pem");  // relative to the file

  REQUIRE(edge::edgectl::UseContext(file, "lab"));
  CHECK(LoadContext(file, "")->name == "lab");
  auto after = nlohmann::json::parse(*edge::fs::ReadFile(file, 1 << 20));
  after["current_context"] = "plant";
  CHECK(after == original);  // nothing else changed
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto unknown = edge::edgectl::UseContext(file, "nope");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == ErrorCode::kBadConfig);
  CHECK(unknown.error().message.find("has no context named 'nope'") != std::string::npos);
  CHECK(LoadContext(file, "")->name == "lab");  // unchanged
  auto missing = edge::edgectl::ListContexts(dir / "none");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kBadConfig);
}

TEST_CASE("controller addresses: the gRPC target forms for TCP, with a port from 1 to 65535", "[edgectl][address]") {
  using edge::edgectl::ParseControllerAddress;
  const std::vector<std::tuple<std::string, std::string, std::string>> good = {
      {"ctl.example:7445", "ctl.example", "7445"},
      {"127.0.0.1:1", "127.0.0.1", "1"},
      {"[::1]:65535", "::1", "65535"},
      {"dns:///localhost:7445", "localhost", "7445"},
      {"dns://10.0.0.53/ctl.example:7445", "ctl.example", "7445"},
      {"dns:ctl.example:7445", "ctl.example", "7445"},
      {"ipv4:10.0.0.5:7445", "10.0.0.5", "7445"},
      {"ipv6:[::1]:7445", "::1", "7445"},
      {"ctl.example:07445", "ctl.example", "7445"},
  };
  for (const auto& [text, host, port] : good) {
    INFO(text);
    auto a = ParseControllerAddress(text);
    REQUIRE(a);
    CHECK(a->host == host);
    CHECK(a->port == port);
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"ctl.example:70000", "port 70000 is outside 1..65535"},
      {"ctl.example:0", "port 0 is outside 1..65535"},
      {"ctl.example:999999", "must be a number from 1 to 65535"},
      {"ctl.example", "no port"},
      {"ctl.example:", "must be a number"},
      {":7445", "no host"},
      {"::1:7445", "goes in brackets"},
      {"[::1:7445", "no ']'"},
      {"ipv6:::1:7445", "goes in brackets"},
      {"ipv4:10.0.0.5:1,10.0.0.6:1", "not a list"},
      {"dns://ctl.example:7445", "no '/' before the host"},
      {"unix:///run/edge.sock", "does not dial 'unix:'"},
      {"dns:///localhost:65536", "outside 1..65535"},
  };
  for (const auto& [text, why] : bad) {
    INFO(text);
    auto a = ParseControllerAddress(text);
    REQUIRE_FALSE(a);
    CHECK(a.error().code == edge::ErrorCode::kInvalidArgument);
    CHECK_THAT(a.error().message, Catch::Contains("'" + text + "'") && Catch::Contains(why));
  }
}

TEST_CASE("edgectl: several controller addresses are tried in turn and a bad one is named", "[edgectl]") {
  using edge::edgectl::ParseControllerAddresses;
  auto list = ParseControllerAddresses("ctl-a.example:7445, [::1]:7446,dns:///ctl-c.example:7445");
  REQUIRE(list);
  REQUIRE(list->size() == 3);
  CHECK((*list)[0].host == "ctl-a.example");
  CHECK((*list)[1].host == "::1");
  CHECK((*list)[1].port == "7446");
  CHECK((*list)[2].host == "ctl-c.example");
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"ctl-a:7445,ctl-b", "'ctl-b'"}, {"ctl-a:7445,,ctl-b:7445", "empty address"},
           {"ctl-a:7445,ctl-a:7445", "listed twice"}}) {
    INFO(text);
    auto a = ParseControllerAddresses(text);
    REQUIRE_FALSE(a);
    CHECK(a.error().code == edge::ErrorCode::kInvalidArgument);
    CHECK_THAT(a.error().message, Catch::Contains(why));
  }
}
