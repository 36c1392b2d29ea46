// The `model run` command (edgectl model run / edge-model run) on models the loader now takes.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/engine/npy_io.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/support/batch_dynamic.h"
#include "tests/unit/engine/test_support.h"
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
  REQUIRE(RunModelCli({"run", model, "--out", out}) == 0);
  auto y = ReadNpy(out);
  REQUIRE(y.has_value());
  CHECK(y->data == std::vector<float>{1.5f, 0.0f, 4.0f});
  // An --input the model does not take is still a usage error.
  CHECK(RunModelCli({"run", model, "-i", out, "--out", out}) == 2);
  std::filesystem::remove_all(dir);
}


TEST_CASE("model run --batch runs a batch-dynamic model in calls of N samples", "[engine][cli][batch]") {
  const auto dir = std::filesystem::temp_directory_path() / ("edge_model_cli_batch_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string fixed = ZooPath("ds_cnn_kws.qdq.onnx"), dynamic = (dir / "dyn.onnx").string();
  REQUIRE(edge::testing::MakeBatchDynamicFile(fixed, dynamic).has_value());
  const std::string eval = ZooPath("ds_cnn_kws.eval.npy");
  const std::string one = (dir / "one.npy").string(), batched = (dir / "batched.npy").string();
  REQUIRE(RunModelCli({"run", fixed, "-i", eval, "--out", one}) == 0);
  REQUIRE(RunModelCli({"run", dynamic, "-i", eval, "--out", batched, "--batch", "7"}) == 0);  // 7 does not divide the rows
  auto a = ReadNpy(one), b = ReadNpy(batched);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->shape == b->shape);
  CHECK(a->data == b->data);
  // A fixed-shape model cannot take --batch above 1; 0 is a usage error.
  CHECK(RunModelCli({"run", fixed, "-i", eval, "--out", one, "--batch", "4"}) != 0);
  CHECK(RunModelCli({"run", dynamic, "-i", eval, "--out", one, "--batch", "0"}) == 2);
  CHECK(RunModelCli({"bench", dynamic, "--batch", "8", "-n", "3", "--warmup", "1", "--profile"}) == 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace edge::engine::testing
