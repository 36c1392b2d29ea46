// Every zoo model, fp32 and QDQ int8, against ONNX Runtime's outputs on the same inputs.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {


TEST_CASE("fp32 zoo models match ONNX Runtime within 1e-4 relative", "[engine][zoo]") {
  for (const auto& name : ZooModels()) {
    DYNAMIC_SECTION(name) {
      auto model = LoadOrDie(ZooPath(name + ".onnx"));
      CHECK_FALSE(model->is_quantized());
      const NpyArray input = ReadOrDie(ZooPath(name + ".input.npy"));
      const NpyArray golden = ReadOrDie(ZooPath(name + ".golden.npy"));
      ExecutionContext ctx(model);
      int64_t per = 0;
      const auto out = RunSamples(ctx, input, &per);
      REQUIRE(out.size() == golden.data.size());
      float scale = 0.0f;
      for (float g : golden.data) scale = std::max(scale, std::abs(g));
      for (size_t i = 0; i < out.size(); ++i) {
        INFO(name << " element " << i << ": engine " << out[i] << ", ORT " << golden.data[i]);
        // relative to the element, with a floor relative to the output's magnitude
        CHECK(std::abs(out[i] - golden.data[i]) <= 1e-4f * std::max(std::abs(golden.data[i]), 0.01f * scale));
      }
    }
  }
}

}  // namespace
}  // namespace edge::engine::testing
