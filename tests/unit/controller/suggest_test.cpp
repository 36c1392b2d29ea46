#include "controller/edgectl/suggest.h"

#include <catch2/catch.hpp>

using edge::edgectl::EditDistance;
using edge::edgectl::Suggest;
using edge::edgectl::UnknownCommandMessage;

TEST_CASE("edgectl suggestions: edit distance counts swaps as one edit") {
  CHECK(EditDistance("get", "get") == 0);
  CHECK(EditDistance("gett", "get") == 1);
  CHECK(EditDistance("dpeloy", "deploy") == 1);
  CHECK(EditDistance("", "abc") == 3);
  CHECK(Suggest("revok", {"revoke", "rollout", "get"}) == std::vector<std::string>{"revoke"});
  CHECK(Suggest("roll", {"revoke", "rollout", "get"}) == std::vector<std::string>{"rollout"});
  CHECK(Suggest("frobnicate", {"revoke", "rollout", "get"}).empty());
}

TEST_CASE("edgectl suggestions: a mistyped command word is named where a command must come") {
  CLI::App app;
  std::string context, id;
  app.add_option("--context", context);
  auto* deploy = app.add_subcommand("deploy")->require_subcommand(1);
  deploy->add_subcommand("model");
  auto* describe = app.add_subcommand("describe")->require_subcommand(1);
  describe->add_subcommand("device")->add_option("id", id);
  app.add_subcommand("get");
  app.require_subcommand(1);
  CHECK(UnknownCommandMessage(app, {"gett"}) == "unknown command 'gett' for 'edgectl'; did you mean 'get'?");
  CHECK(UnknownCommandMessage(app, {"--context", "deploy", "dpeloy"}) ==
        "unknown command 'dpeloy' for 'edgectl'; did you mean 'deploy'?");  // "deploy" is --context's value
  CHECK(UnknownCommandMessage(app, {"--context=x", "deploy", "modle", "v3"}) ==
        "unknown command 'modle' for 'edgectl deploy'; did you mean 'model'?");
  CHECK(UnknownCommandMessage(app, {"zzz"}) == "unknown command 'zzz' for 'edgectl'; commands: deploy describe get");
  // Arguments are not commands: a device id after `describe device`, anything after `get`.
  CHECK(UnknownCommandMessage(app, {"describe", "device", "gw-1"}).empty());
  CHECK(UnknownCommandMessage(app, {"get", "devicez"}).empty());
  CHECK(UnknownCommandMessage(app, {"--", "gett"}).empty());
}
