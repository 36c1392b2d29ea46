// uint8 QDQ tensors are converted exactly to int8 (q - 128, zero point - 128): a model
// rewritten to uint8 activations and weights must give the int8 model's results bit for bit.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

// Rewrites every int8 initializer (activation zero points, weights and their zero points) to
// uint8 by adding 128; the dequantized values do not change.
std::string ToUint8(const std::string& bytes) {
  onnx::ModelProto m;
  REQUIRE(m.ParseFromString(bytes));
  for (auto& t : *m.mutable_graph()->mutable_initializer()) {
    if (t.data_type() != onnx::TensorProto::INT8) continue;
    t.set_data_type(onnx::TensorProto::UINT8);
    if (t.has_raw_data()) {
      std::string raw = t.raw_data();
      for (char& c : raw) c = static_cast<char>(static_cast<uint8_t>(static_cast<int8_t>(c) + 128));
      t.set_raw_data(raw);
    } else {
      for (int i = 0; i < t.int32_data_size(); ++i) t.set_int32_data(i, t.int32_data(i) + 128);
    }
  }
  std::string out;
  m.SerializeToString(&out);
  return out;
}

TEST_CASE("uint8 QDQ models give exactly the int8 results", "[engine][zoo]") {
  for (const std::string name : {"resnet8", "mobilenet_v2_block", "op_mix", "mlp_anomaly"}) {
    DYNAMIC_SECTION(name) {
      std::ifstream in(ZooPath(name + ".qdq.onnx"), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const std::string u8 = ToUint8(bytes);
      auto a = Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
      auto b = Model::LoadMemory({reinterpret_cast<const uint8_t*>(u8.data()), u8.size()});
      INFO((b ? "" : b.error().message));
      REQUIRE(a.has_value());
      REQUIRE(b.has_value());
      CHECK((*b)->is_quantized());
      const NpyArray input = ReadOrDie(ZooPath(name + ".input.npy"));
      ExecutionContext ca(*a), cb(*b);
      int64_t per = 0;
      const auto oa = RunSamples(ca, input, &per);
      const auto ob = RunSamples(cb, input, &per);
      CHECK(oa == ob);
    }
  }
}

}  // namespace
}  // namespace edge::engine::testing
