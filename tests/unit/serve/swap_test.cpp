// DESIGN §7: "switch new requests to it; requests already running finish on the old one (zero
// failed requests across a swap)", checked end to end over the unix socket.
#include <catch2/catch.hpp>
#include <atomic>
#include <map>
#include <thread>

#include "tests/unit/serve/serve_fixtures.h"

namespace edge::serve {
namespace {

TEST_CASE("swap: clients in a tight loop see zero failures and the output of the version that answered") {
  // The same MLP quantized and in float: same signature, different outputs for the same input.
  testing::ServingFixture f("mlp", "int8", testing::kMlpQuantized);
  auto float_model = testing::LoadZoo(testing::kMlpFloat);
  const auto input = testing::MlpSample(3);
  const std::map<std::string, std::vector<float>> expected = {
      {"int8", testing::RunDirect(f.model, input)}, {"float", testing::RunDirect(float_model, input)}};
  REQUIRE(expected.at("int8") != expected.at("float"));

  wire::InferRequest request;
  request.model_name = "mlp";
  request.inputs.push_back({"input", "FP32", {1, 64}, input, {}, {}, {}});
  const std::string body = wire::Encode(request);

  constexpr int kClients = 4;
  std::atomic<bool> stop{false};
  std::vector<std::vector<wire::Reply>> replies(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      wire::Client client("unix:" + f.socket_path);
      while (!stop.load()) replies[c].push_back(client.Call("ModelInfer", body));
    });
  }
  for (int swap = 0; swap < 20; ++swap) {
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
    if (swap % 2 == 0) {
      f.registry.Activate("mlp", "float", float_model);
    } else {
      f.registry.Activate("mlp", "int8", f.model);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(15));
  stop = true;
  for (auto& t : clients) t.join();

  std::map<std::string, int> per_version;
  int total = 0;
  for (const auto& thread_replies : replies) {
    for (const auto& reply : thread_replies) {
      ++total;
      INFO("reply " << total << ": " << reply.status.error_message());
      REQUIRE(reply.status.ok());
      auto response = wire::DecodeInferResponse(reply.body);
      REQUIRE(expected.count(response.model_version) == 1);
      REQUIRE(response.outputs.size() == 1);
      REQUIRE(response.outputs[0].fp32 == expected.at(response.model_version));
      ++per_version[response.model_version];
    }
  }
  INFO("requests: " << total << ", int8: " << per_version["int8"] << ", float: " << per_version["float"]);
  CHECK(per_version["int8"] > 0);
  CHECK(per_version["float"] > 0);
}

}  // namespace
}  // namespace edge::serve
