// edge-batch-api-bench: what a batch buys a client of the agent's inference API. Serves a zoo
// model made batch-dynamic (tests/support/batch_dynamic.h) from an in-process InferenceServer
// on a real unix socket, and times, alternating in rounds on the same samples, N ModelInfer
// calls of one sample against one call of N samples. Prints a markdown table of the time per
// sample (p50 over the rounds) and the ratio.
//
//   edge-batch-api-bench --zoo DIR [--models a,b] [--batches 8,32] [--rounds R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "agent/serve/registry.h"
#include "agent/serve/server.h"
#include "edge/v1/inference.grpc.pb.h"
#include "tests/support/batch_dynamic.h"
#include "tests/unit/core/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "edge-batch-api-bench: %s\n", what.c_str());
  std::exit(1);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// A request of `batch` samples of uniform noise for `input` of per-sample shape `dims`.
inference::ModelInferRequest Request(const std::string& model, const edge::engine::TensorInfo& input, int64_t batch) {
  inference::ModelInferRequest r;
  r.set_model_name(model);
  auto* in = r.add_inputs();
  in->set_name(input.name);
  in->set_datatype("FP32");
  in->add_shape(batch);
  for (size_t d = 1; d < input.shape.size(); ++d) in->add_shape(input.shape[d]);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(batch * input.elements));
  for (float& v : x) v = uniform(rng);
  r.add_raw_input_contents(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
  return r;
}

double TimeCall(inference::GRPCInferenceService::Stub& stub, const inference::ModelInferRequest& request) {
  grpc::ClientContext ctx;
  inference::ModelInferResponse response;
  const auto start = Clock::now();
  const grpc::Status s = stub.ModelInfer(&ctx, request, &response);
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  if (!s.ok()) Die("ModelInfer: " + s.error_message());
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge-batch-api-bench"};
  std::string zoo, models = "mlp_anomaly.qdq,ds_cnn_kws.qdq,resnet8.qdq", batches = "8,32";
  int rounds = 30;
  app.add_option("--zoo", zoo, "tests/models/zoo")->required();
  app.add_option("--models", models, "zoo model files without .onnx, comma-separated");
  app.add_option("--batches", batches, "batch sizes, comma-separated");
  app.add_option("--rounds", rounds, "alternating rounds per model and batch");
  CLI11_PARSE(app, argc, argv);

  edge::testing::TempDir temp;
  edge::serve::Registry registry;
  edge::serve::ServeConfig config;
  config.unix_socket = (temp.path() / "infer.sock").string();
  config.max_contexts_per_model = 1;
  std::vector<std::pair<std::string, std::shared_ptr<const edge::engine::Model>>> served;
  for (const auto& name : Split(models)) {
    const std::string file = (temp.path() / (name + ".onnx")).string();
    if (auto st = edge::testing::MakeBatchDynamicFile(zoo + "/" + name + ".onnx", file); !st) Die(st.error().message);
    auto model = edge::engine::Model::LoadFile(file);
    if (!model) Die(model.error().message);
    registry.Activate(name, "1", *model);
    served.emplace_back(name, *model);
  }
  auto server = edge::serve::InferenceServer::Start(config, registry);
  if (!server) Die(server.error().message);
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel("unix:" + config.unix_socket, grpc::InsecureChannelCredentials()));

  std::printf("| model | batch | %s | %s | ratio |\n|---|---|---|---|---|\n", "N calls of 1: us per sample",
              "1 call of N: us per sample");
  for (const auto& [name, model] : served) {
    const auto& input = model->inputs().at(0);
    const auto single = Request(name, input, 1);
    for (const auto& b : Split(batches)) {
      const int64_t batch = std::stoll(b);
      const auto batched = Request(name, input, batch);
      for (int i = 0; i < 5; ++i) TimeCall(*stub, single), TimeCall(*stub, batched);  // connect, plan, warm
      std::vector<double> ones, alls;
      for (int r = 0; r < rounds; ++r) {
        double sum = 0.0;
        for (int64_t k = 0; k < batch; ++k) sum += TimeCall(*stub, single);
        ones.push_back(sum / static_cast<double>(batch));
        alls.push_back(TimeCall(*stub, batched) / static_cast<double>(batch));
      }
      const double one = Median(ones), all = Median(alls);
      std::printf("| %s | %lld | %.1f | %.1f | %.1fx |\n", name.c_str(), static_cast<long long>(batch), one, all,
                  one / all);
      std::fflush(stdout);
    }
  }
  (*server)->Shutdown();
  return 0;
}
