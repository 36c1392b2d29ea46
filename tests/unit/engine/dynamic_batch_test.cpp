// Dynamic batch: a model whose inputs have a symbolic leading dimension is planned per batch size
// (engine.h). Every zoo model, made batch-dynamic the way exporters write it, must give for a
// batch of n exactly what n single runs give, and the refusals must name the problem.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <thread>

#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

Result<std::shared_ptr<const Model>> LoadBytes(const std::string& bytes, const LoadOptions& options = {}) {
  return Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, options);
}

// The first `batch` samples of `samples` run as one batch of that size.
std::vector<float> RunAsBatch(ExecutionContext& ctx, const NpyArray& samples, int64_t batch) {
  auto shapes = ctx.model().ShapesFor(batch);
  INFO((shapes ? "" : shapes.error().message));
  REQUIRE(shapes.has_value());
  REQUIRE(shapes->inputs.size() == 1);
  REQUIRE(shapes->inputs[0].shape.at(0) == batch);
  REQUIRE(static_cast<int64_t>(samples.data.size()) >= shapes->inputs[0].elements);
  std::vector<float> out(static_cast<size_t>(shapes->outputs.at(0).elements));
  const float* in = samples.data.data();
  float* o = out.data();
  auto st = ctx.RunBatch(batch, {&in, 1}, {&o, 1});
  INFO((st ? "" : st.error().message));
  REQUIRE(st.has_value());
  return out;
}

TEST_CASE("a symbolic batch dimension loads and is reported as batch 1", "[engine][batch]") {
  auto model = LoadBatchDynamicOrDie("resnet8.onnx");
  CHECK(model->dynamic_batch());
  CHECK(model->inputs().at(0).shape.at(0) == 1);
  CHECK(model->outputs().at(0).shape.at(0) == 1);
  auto shapes = model->ShapesFor(8);
  REQUIRE(shapes.has_value());
  CHECK(shapes->inputs.at(0).shape.at(0) == 8);
  CHECK(shapes->inputs.at(0).elements == 8 * model->inputs().at(0).elements);
  CHECK(shapes->outputs.at(0).shape.at(0) == 8);
  CHECK(shapes->outputs.at(0).elements == 8 * model->outputs().at(0).elements);
  CHECK_FALSE(LoadOrDie(ZooPath("resnet8.onnx"))->dynamic_batch());
}

TEST_CASE("every zoo model at batch 8 equals eight runs at batch 1", "[engine][batch][zoo]") {
  for (const auto& name : ZooModels()) {
    for (const auto& file : std::vector<std::string>{name + ".onnx", name + ".qdq.onnx"}) {
      DYNAMIC_SECTION(file) {
        auto model = LoadBatchDynamicOrDie(file);
        if (name == "op_mix") {
          // Its Reshape to a constant [1, 128] fixes the batch at 1: loads, then refuses batch 8.
          auto shapes = model->ShapesFor(8);
          REQUIRE_FALSE(shapes.has_value());
          CHECK(shapes.error().message.find("planning batch 8: node 'flat") != std::string::npos);
          CHECK(shapes.error().message.find("(Reshape): element count changes from 1024 to 128") != std::string::npos);
          // Remembered: asking again answers the same without planning again.
          auto again = model->ShapesFor(8);
          REQUIRE_FALSE(again.has_value());
          CHECK(again.error().message == shapes.error().message);
          continue;
        }
        const NpyArray eval = ReadOrDie(ZooPath(name + ".eval.npy"));
        REQUIRE(eval.shape.at(0) >= 8);
        ExecutionContext ctx(model);
        int64_t per = 0;
        const auto singles = RunSamples(ctx, eval, &per);
        const auto batched = RunAsBatch(ctx, eval, 8);
        REQUIRE(batched.size() == static_cast<size_t>(8 * per));
        float scale = 0.0f;
        for (size_t i = 0; i < batched.size(); ++i) scale = std::max(scale, std::abs(singles[i]));
        for (size_t i = 0; i < batched.size(); ++i) {
          INFO(file << " element " << i << ": batch " << batched[i] << ", single " << singles[i]);
          if (model->is_quantized()) {
            CHECK(batched[i] == singles[i]);  // integer arithmetic: the same whatever the grouping
          } else {
            CHECK(std::abs(batched[i] - singles[i]) <= 1e-5f * std::max(std::abs(singles[i]), 0.01f * scale));
          }
        }
        // And batch 1 through RunBatch is the plain run.
        const auto one = RunAsBatch(ctx, eval, 1);
        CHECK(std::equal(one.begin(), one.end(), singles.begin()));
      }
    }
  }
}

TEST_CASE("batch plans are cached up to the limit and re-planned after eviction", "[engine][batch]") {
  LoadOptions options;
  options.max_batch_plans = 2;
  auto model = LoadBatchDynamicOrDie("ds_cnn_kws.qdq.onnx", options);
  const NpyArray eval = ReadOrDie(ZooPath("ds_cnn_kws.eval.npy"));
  ExecutionContext ctx(model);
  const auto first = RunAsBatch(ctx, eval, 4);
  auto plan4 = model->PlanFor(4);
  REQUIRE(plan4.has_value());
  auto again = model->PlanFor(4);
  REQUIRE(again.has_value());
  CHECK(plan4->get() == again->get());  // cached
  RunAsBatch(ctx, eval, 2);
  RunAsBatch(ctx, eval, 3);  // evicts 4, the least recently used
  auto replanned = model->PlanFor(4);
  REQUIRE(replanned.has_value());
  CHECK(replanned->get() != plan4->get());
  CHECK(RunAsBatch(ctx, eval, 4) == first);
  // Growing and shrinking the batch in one context reuses its arena.
  CHECK(RunAsBatch(ctx, eval, 1) == std::vector<float>(first.begin(), first.begin() + static_cast<long>(first.size() / 4)));
}

TEST_CASE("contexts of one model run different batch sizes at once", "[engine][batch]") {
  auto model = LoadBatchDynamicOrDie("mlp_anomaly.qdq.onnx");
  const NpyArray eval = ReadOrDie(ZooPath("mlp_anomaly.eval.npy"));
  ExecutionContext reference(model);
  int64_t per = 0;
  const auto singles = RunSamples(reference, eval, &per);
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ExecutionContext ctx(model);
      const int64_t batch = t + 5;
      const float* in = eval.data.data();
      for (int round = 0; round < 20; ++round) {
        got[static_cast<size_t>(t)].assign(static_cast<size_t>(batch * per), 0.0f);
        float* o = got[static_cast<size_t>(t)].data();
        if (!ctx.RunBatch(batch, {&in, 1}, {&o, 1})) return;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    INFO("batch " << t + 5);
    CHECK(got[static_cast<size_t>(t)] ==
          std::vector<float>(singles.begin(), singles.begin() + static_cast<long>((t + 5) * per)));
  }
}

TEST_CASE("batch sizes a model cannot take are refused with the reason", "[engine][batch]") {
  LoadOptions options;
  options.max_batch = 16;
  auto model = LoadBatchDynamicOrDie("mlp_anomaly.onnx", options);
  CHECK(model->max_batch() == 16);
  auto zero = model->ShapesFor(0);
  REQUIRE_FALSE(zero.has_value());
  CHECK(zero.error().message == "batch 0 is outside 1..16 (the model's maximum batch)");
  auto big = model->ShapesFor(17);
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().message.find("batch 17 is outside 1..16") != std::string::npos);

  auto fixed = LoadOrDie(ZooPath("mlp_anomaly.onnx"));
  auto not_dynamic = fixed->ShapesFor(4);
  REQUIRE_FALSE(not_dynamic.has_value());
  CHECK(not_dynamic.error().message.find("fixed input shapes") != std::string::npos);
  ExecutionContext ctx(fixed);
  std::vector<float> in(static_cast<size_t>(4 * fixed->inputs()[0].elements)),
      out(static_cast<size_t>(4 * fixed->outputs()[0].elements));
  const float* ip = in.data();
  float* op = out.data();
  auto st = ctx.RunBatch(4, {&ip, 1}, {&op, 1});
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().message.find("fixed input shapes") != std::string::npos);
}

onnx::ModelProto TwoInputAdd(const std::string& a_dim, const std::string& b_dim) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  for (const auto& [name, dim] : {std::pair{std::string("a"), a_dim}, std::pair{std::string("b"), b_dim}}) {
    auto* in = g->add_input();
    in->set_name(name);
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_param(dim);
    tt->mutable_shape()->add_dim()->set_dim_value(3);
  }
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->add_input("a");
  n->add_input("b");
  n->add_output("y");
  g->add_output()->set_name("y");
  return m;
}

TEST_CASE("symbolic dimensions the engine cannot bind are refused by name", "[engine][batch]") {
  std::string bytes;
  TwoInputAdd("N", "M").SerializeToString(&bytes);
  auto two = LoadBytes(bytes);
  REQUIRE_FALSE(two.has_value());
  CHECK(two.error().message ==
        "inputs 'a' and 'b' have different symbolic leading dimensions ('N', 'M'); the engine binds one batch "
        "size for all inputs of a call");

  onnx::ModelProto inner = TwoInputAdd("N", "N");
  inner.mutable_graph()->mutable_input(1)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_param("C");
  inner.SerializeToString(&bytes);
  auto later = LoadBytes(bytes);
  REQUIRE_FALSE(later.has_value());
  CHECK(later.error().message.find("input 'b' dimension 1 is symbolic ('C'): only an input's leading (batch) "
                                   "dimension may be symbolic") != std::string::npos);

  // Two inputs sharing one batch name: one batch binds both.
  TwoInputAdd("N", "N").SerializeToString(&bytes);
  auto shared = LoadBytes(bytes);
  REQUIRE(shared.has_value());
  ExecutionContext ctx(*shared);
  std::vector<float> a(12), b(12), y(12);
  for (size_t i = 0; i < 12; ++i) a[i] = static_cast<float>(i), b[i] = 100.0f * static_cast<float>(i);
  const float* ins[] = {a.data(), b.data()};
  float* outs[] = {y.data()};
  REQUIRE(ctx.RunBatch(4, ins, outs).has_value());
  for (size_t i = 0; i < 12; ++i) CHECK(y[i] == 101.0f * static_cast<float>(i));
}



// What torch.onnx.export writes for `x.view(x.size(0), -1) @ w + x.flatten(2).sum...`, reduced
// to the shape arithmetic: y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) @ w,
// and z = Reshape(x, [batch * channels, Mul(Slice(Shape(x), 2, 4))]) + ConstantOfShape(1).
onnx::ModelProto ShapeSubgraphModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
  for (int64_t d : {2, 3, 3}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(18);
  w->add_dims(2);
  for (int k = 0; k < 36; ++k) w->add_float_data(k % 2 == 0 ? 1.0f : static_cast<float>(k) / 36.0f);
  IntInit(g, "zero", {}, {0});
  IntInit(g, "axes0", {1}, {0});
  IntInit(g, "minus1", {1}, {-1});
  IntInit(g, "starts", {1}, {2});
  IntInit(g, "ends", {1}, {4});
  AddNode(g, "Shape", {"x"}, "shape");
  AddNode(g, "Gather", {"shape", "zero"}, "n");
  AddNode(g, "Unsqueeze", {"n", "axes0"}, "n1");
  AddNode(g, "Concat", {"n1", "minus1"}, "flat_shape")->add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("axis");
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(0);
    return a;
  }());
  AddNode(g, "Reshape", {"x", "flat_shape"}, "flat");
  AddNode(g, "MatMul", {"flat", "w"}, "y");
  // z: [batch * 2, 9] from the sliced spatial dims, plus ones.
  AddNode(g, "Slice", {"shape", "starts", "ends"}, "hw");
  IntInit(g, "first2", {1}, {0});
  IntInit(g, "two", {1}, {2});
  AddNode(g, "Slice", {"shape", "first2", "two"}, "nc");
  AddNode(g, "Gather", {"hw", "zero"}, "h");
  AddNode(g, "Mul", {"h", "h"}, "hh");
  AddNode(g, "Unsqueeze", {"hh", "axes0"}, "hh1");
  AddNode(g, "Gather", {"nc", "zero"}, "nb");
  IntInit(g, "chan", {}, {2});
  AddNode(g, "Mul", {"nb", "chan"}, "rows");
  AddNode(g, "Unsqueeze", {"rows", "axes0"}, "rows1");
  AddNode(g, "Concat", {"rows1", "hh1"}, "z_shape")->add_attribute()->CopyFrom(g->node(3).attribute(0));
  AddNode(g, "Reshape", {"x", "z_shape"}, "zr");
  AddNode(g, "ConstantOfShape", {"z_shape"}, "ones")->add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("value");
    a.set_type(onnx::AttributeProto::TENSOR);
    a.mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a.mutable_t()->add_dims(1);
    a.mutable_t()->add_float_data(1.0f);
    return a;
  }());
  AddNode(g, "Add", {"zr", "ones"}, "z");
  g->add_output()->set_name("y");
  g->add_output()->set_name("z");
  return m;
}

TEST_CASE("a PyTorch-style shape subgraph folds in every batch plan", "[engine][batch][shape]") {
  std::string bytes;
  ShapeSubgraphModel().SerializeToString(&bytes);
  auto loaded = LoadBytes(bytes);
  INFO((loaded ? "" : loaded.error().message));
  REQUIRE(loaded.has_value());
  const auto& model = *loaded;
  for (int64_t batch : {1, 5}) {
    INFO("batch " << batch);
    auto shapes = model->ShapesFor(batch);
    REQUIRE(shapes.has_value());
    CHECK(shapes->outputs[0].shape == std::vector<int64_t>{batch, 2});
    CHECK(shapes->outputs[1].shape == std::vector<int64_t>{batch * 2, 9});
    std::vector<float> x(static_cast<size_t>(batch * 18)), y(static_cast<size_t>(batch * 2)), z(x.size());
    for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>(k % 7) - 3.0f;
    ExecutionContext ctx(model);
    const float* ins[] = {x.data()};
    float* outs[] = {y.data(), z.data()};
    REQUIRE(ctx.RunBatch(batch, ins, outs).has_value());
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t j = 0; j < 2; ++j) {
        float expected = 0.0f;
        for (int64_t k = 0; k < 18; ++k) {
          const float wk = (k * 2 + j) % 2 == 0 ? 1.0f : static_cast<float>(k * 2 + j) / 36.0f;
          expected += x[static_cast<size_t>(b * 18 + k)] * wk;
        }
        CHECK(y[static_cast<size_t>(b * 2 + j)] == Approx(expected).epsilon(1e-6));
      }
    }
    for (size_t k = 0; k < x.size(); ++k) CHECK(z[k] == x[k] + 1.0f);
  }
}

TEST_CASE("shape arithmetic on computed tensors is refused by name", "[engine][shape]") {
  onnx::ModelProto m = ShapeSubgraphModel();
  // Gather of the shape at indices the activation computes, float ones (a Gather *of* an
  // activation at constant indices, and one at int32 or int64 indices computed at run time, are
  // steps of their own: movement_ops_test.cpp).
  m.mutable_graph()->mutable_node(1)->set_input(1, "x");
  std::string bytes;
  m.SerializeToString(&bytes);
  auto r = LoadBytes(bytes);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message,
             Catch::Contains("node 'n' (Gather): indices 'x' are float: Gather takes int32 or int64 indices"));
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

TEST_CASE("hostile shape arithmetic fails cleanly", "[engine][shape][hostile]") {
  auto refused = [](onnx::ModelProto m) {
    std::string bytes;
    m.SerializeToString(&bytes);
    auto r = LoadBytes(bytes);
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
  };
  {
    onnx::ModelProto m = ShapeSubgraphModel();  // a huge ConstantOfShape
    auto* g = m.mutable_graph();
    IntInit(g, "huge", {2}, {4096, 4096});  // 16M elements: within the tensor limit, over the fold limit
    g->mutable_node(g->node_size() - 2)->set_input(0, "huge");
    CHECK_THAT(refused(m), Catch::Contains("ConstantOfShape") && Catch::Contains("over the limit of 4194304 elements"));
  }
  {
    onnx::ModelProto m = ShapeSubgraphModel();  // int64 overflow in the arithmetic
    auto* g = m.mutable_graph();
    IntInit(g, "big", {}, {int64_t{1} << 62});
    for (auto& n : *g->mutable_node()) {
      if (n.name() == "hh") n.set_input(1, "big"), n.set_input(0, "big");
    }
    // Wraps in int64 as the runtime op does (2^124 mod 2^64 = 0), and the Reshape to 0 columns is refused.
    CHECK_THAT(refused(m), Catch::Contains("(Reshape)"));
  }
  {
    onnx::ModelProto m = ShapeSubgraphModel();  // an index outside the shape
    IntInit(m.mutable_graph(), "seven", {}, {7});
    m.mutable_graph()->mutable_node(1)->set_input(1, "seven");
    CHECK_THAT(refused(m), Catch::Contains("index 7 is outside an axis of 4"));
  }
}

}  // namespace
}  // namespace edge::engine::testing
