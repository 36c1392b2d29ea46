// The `model run` command (edgectl model run / edge-model run) on models the loader now takes.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/engine/npy_io.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/model_cli_support.h"

namespace edge::engine::testing {
namespace {

TEST_CASE("model run needs no --input for a model without inputs", "[engine][cli]") {
  const auto dir = std::filesystem::temp_directory_path() / ("edge_model_cli_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  auto* c = g->add_initializer();
  c->set_name("c");
  c->set_data_type(onnx::TensorProto::FLOAT);
  c->add_dims(3);
  for (float v : {1.5f, -2.0f, 4.0f}) c->add_float_data(v);
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->add_input("c");
  n->add_output("y");
  g->add_output()->set_name("y");
  const std::string model = (dir / "constant.onnx").string(), out = (dir / "y.npy").string();
  {
    std::ofstream f(model, std::ios::binary);
    REQUIRE(m.SerializeToOstream(&f));
  }
  REQUIRE(RunModelCli({"run", model, "-o", out}) == 0);
  auto y = ReadNpy(out);
  REQUIRE(y.has_value());
  CHECK(y->data == std::vector<float>{1.5f, 0.0f, 4.0f});
  // An --input the model does not take is still a usage error.
  CHECK(RunModelCli({"run", model, "-i", out, "-o", out}) == 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace edge::engine::testing
