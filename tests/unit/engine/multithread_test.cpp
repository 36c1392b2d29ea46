// One loaded model, several threads, one ExecutionContext each: results equal a single thread's.
#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

TEST_CASE("a model shared by four threads gives identical results", "[engine][threads]") {
  for (const std::string name : {"resnet8.qdq", "mobilenet_v2_block.qdq", "sensor_conv1d"}) {
    DYNAMIC_SECTION(name) {
      auto model = LoadOrDie(ZooPath(name + ".onnx"));
      const std::string base = name.substr(0, name.find('.'));
      const NpyArray evals = ReadOrDie(ZooPath(base + ".eval.npy"));
      ExecutionContext single(model);
      int64_t per = 0;
      const auto expected = RunSamples(single, evals, &per);
      const int64_t in_per = model->inputs()[0].elements;
      const int64_t samples = std::min<int64_t>(evals.shape[0], 24);
      constexpr int kThreads = 4;
      std::vector<std::vector<float>> results(kThreads, std::vector<float>(static_cast<size_t>(samples * per)));
      std::vector<int> failures(kThreads, 0);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          ExecutionContext ctx(model);
          for (int round = 0; round < 3; ++round) {
            // each thread starts at a different sample, so the threads overlap in time on
            // different inputs
            for (int64_t i = 0; i < samples; ++i) {
              const int64_t s = (i + 7 * t + round) % samples;
              const float* in = evals.data.data() + s * in_per;
              float* out = results[t].data() + s * per;
              if (!ctx.Run({&in, 1}, {&out, 1})) ++failures[t];
            }
          }
        });
      }
      for (auto& th : threads) th.join();
      for (int t = 0; t < kThreads; ++t) {
        CHECK(failures[t] == 0);
        CHECK(std::equal(results[t].begin(), results[t].end(), expected.begin()));
      }
    }
  }
}

}  // namespace
}  // namespace edge::engine::testing
