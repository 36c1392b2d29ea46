#include "tests/unit/engine/test_support.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "tests/support/batch_dynamic.h"

namespace edge::engine::testing {

std::string ZooPath(const std::string& file) { return std::string(EDGE_ZOO_DIR) + "/" + file; }

std::vector<std::string> ZooModels() {
  return {"mlp_anomaly",       "sensor_conv1d", "ds_cnn_kws",       "resnet8",
          "mobilenet_v2_block", "op_mix",        "multiscale_concat", "gated_tcn",
          "tiny_transformer",  "wide_mlp_softmax", "reshape_reduce", "odd_strides"};
}

std::shared_ptr<const Model> LoadOrDie(const std::string& path) {
  auto m = Model::LoadFile(path);
  INFO(path << ": " << (m ? "" : m.error().message));
  REQUIRE(m.has_value());
  return *m;
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INFO(path);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::shared_ptr<const Model> LoadBatchDynamicOrDie(const std::string& zoo_file, const LoadOptions& options) {
  auto bytes = edge::testing::MakeBatchDynamic(FileBytes(ZooPath(zoo_file)));
  REQUIRE(bytes.has_value());
  auto model = Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()}, options);
  INFO(zoo_file << ": " << (model ? "" : model.error().message));
  REQUIRE(model.has_value());
  return *model;
}

NpyArray ReadOrDie(const std::string& path) {
  auto a = ReadNpy(path);
  INFO(path << ": " << (a ? "" : a.error().message));
  REQUIRE(a.has_value());
  return *a;
}

std::vector<float> RunSamples(ExecutionContext& ctx, const NpyArray& inputs, int64_t* out_per_sample) {
  const auto& in_info = ctx.model().inputs().at(0);
  const auto& out_info = ctx.model().outputs().at(0);
  const int64_t samples = inputs.shape.at(0);
  REQUIRE(static_cast<int64_t>(inputs.data.size()) == samples * in_info.elements);
  std::vector<float> out(static_cast<size_t>(samples * out_info.elements));
  for (int64_t s = 0; s < samples; ++s) {
    const float* in = inputs.data.data() + s * in_info.elements;
    float* o = out.data() + s * out_info.elements;
    auto st = ctx.Run({&in, 1}, {&o, 1});
    INFO((st ? "" : st.error().message));
    REQUIRE(st.has_value());
  }
  *out_per_sample = out_info.elements;
  return out;
}

}  // namespace edge::engine::testing
