// Hostile review of dynamic batch + shape folding (branch hostile-batch). Each TEST_CASE states
// the expected behaviour with CHECKs; a failing CHECK is a finding (docs/testing.md, "Hostile repros").
// Tags: [hostile-batch] runs in-process safely; [hostile-batch-crash] and [hostile-batch-oom]
// are expected to crash / exhaust memory and are run one at a time (docs/testing.md).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <thread>

#include "agent/engine/compile.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

// Models the repros write, for edge-model and the serve repros to read: EDGE_HOSTILE_DIR, or
// /tmp/edge-hostile-batch.
std::string HostileDir() {
  const char* dir = std::getenv("EDGE_HOSTILE_DIR");
  const std::string path = dir != nullptr ? dir : "/tmp/edge-hostile-batch";
  std::filesystem::create_directories(path);
  return path;
}

Result<std::shared_ptr<const Model>> Load(const onnx::ModelProto& m, const LoadOptions& options = {}) {
  std::string bytes;
  m.SerializeToString(&bytes);
  return Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, options);
}

void Save(const onnx::ModelProto& m, const std::string& file) {
  std::string bytes;
  m.SerializeToString(&bytes);
  FILE* f = std::fopen((HostileDir() + "/" + file).c_str(), "wb");
  REQUIRE(f != nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

onnx::ModelProto NewModel(int opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  return m;
}

// dims: "N" (or any non-numeric string) is a dim_param, "?" an unnamed dim, else a value.
void Input(onnx::GraphProto* g, const std::string& name, const std::vector<std::string>& dims) {
  auto* in = g->add_input();
  in->set_name(name);
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (d == "?") continue;
    if (std::isdigit(static_cast<unsigned char>(d[0]))) {
      dim->set_dim_value(std::stoll(d));
    } else {
      dim->set_dim_param(d);
    }
  }
}

void Output(onnx::GraphProto* g, const std::string& name) { g->add_output()->set_name(name); }




void IntAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void IntsAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void ValueAttr(onnx::NodeProto* n, int type, int64_t iv, float fv = 0.0f) {
  auto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(type);
  a->mutable_t()->add_dims(1);
  if (type == onnx::TensorProto::FLOAT) {
    a->mutable_t()->add_float_data(fv);
  } else if (type == onnx::TensorProto::INT32) {
    a->mutable_t()->add_int32_data(static_cast<int32_t>(iv));
  } else {
    a->mutable_t()->add_int64_data(iv);
  }
}

std::string Msg(const Result<std::shared_ptr<const Model>>& r) { return r ? std::string("(loaded)") : r.error().message; }

// y = x + Slice(data=[10,20,30,40], starts, ends, axes=[0], steps): x is [N, k] with k the count.
onnx::ModelProto SliceModel(int64_t start, int64_t end, int64_t step, int64_t k) {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", std::to_string(k)});
  FloatInit(g, "data", {4}, {10, 20, 30, 40});
  IntInit(g, "starts", {1}, {start});
  IntInit(g, "ends", {1}, {end});
  IntInit(g, "axes", {1}, {0});
  IntInit(g, "steps", {1}, {step});
  AddNode(g, "Slice", {"data", "starts", "ends", "axes", "steps"}, "s");
  AddNode(g, "Add", {"x", "s"}, "y");
  Output(g, "y");
  return m;
}

std::vector<float> RunOne(const std::shared_ptr<const Model>& model, int64_t batch, std::vector<float> x) {
  auto shapes = model->ShapesFor(batch);
  REQUIRE(shapes.has_value());
  std::vector<float> y(static_cast<size_t>(shapes->outputs.at(0).elements));
  ExecutionContext ctx(model);
  const float* in = x.data();
  float* out = y.data();
  auto st = ctx.RunBatch(batch, {&in, 1}, {&out, 1});
  INFO((st ? "" : st.error().message));
  REQUIRE(st.has_value());
  return y;
}

// ---------------------------------------------------------------------------------------------
// F1: Concat folding has no element bound (ConstantOfShape/Add/Gather/Slice have kMaxFoldedElements).

onnx::ModelProto ConcatChain(int64_t base, int doublings, int fan_in = 2) {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", "3"});
  IntInit(g, "len", {1}, {base});
  auto* c = AddNode(g, "ConstantOfShape", {"len"}, "c0");
  ValueAttr(c, onnx::TensorProto::INT64, 1);
  std::string prev = "c0";
  for (int k = 1; k <= doublings; ++k) {
    std::vector<std::string> ins(static_cast<size_t>(fan_in), prev);
    auto* n = AddNode(g, "Concat", ins, "c" + std::to_string(k));
    IntAttr(n, "axis", 0);
    prev = n->output(0);
  }
  AddNode(g, "Relu", {"x"}, "y");
  Output(g, "y");
  return m;
}

TEST_CASE("F1 folded Concat is bounded like the other folds", "[engine][hostile-batch]") {
  // 2^21 elements (under the 2^22 fold limit), concatenated 4x: 2^23 elements, over the limit.
  auto r = Load(ConcatChain(int64_t{1} << 21, 1, 4));
  INFO(Msg(r));
  CHECK_FALSE(r.has_value());
  if (!r) CHECK_THAT(r.error().message, Catch::Contains("over the limit"));
  Save(ConcatChain(int64_t{1} << 22, 12), "concat_bomb.onnx");  // for the CLI repro
}


// ---------------------------------------------------------------------------------------------
// F2: Slice step/clamp arithmetic.

TEST_CASE("F2a Slice with step INT64_MAX takes the first element", "[engine][hostile-batch]") {
  auto r = Load(SliceModel(0, 4, kI64Max, 1));
  INFO(Msg(r));
  REQUIRE(r.has_value());  // ONNX: count = ceil((4-0)/step) = 1 -> [10]
  CHECK(RunOne(*r, 2, {1, 2}) == std::vector<float>{11, 12});
}

TEST_CASE("F2b Slice with step INT64_MIN (negative) takes the last element", "[engine][hostile-batch]") {
  auto r = Load(SliceModel(-1, kI64Min, kI64Min, 1));
  INFO(Msg(r));
  REQUIRE(r.has_value());  // ONNX: start 3, end clamps to -1, one element -> [40]
  CHECK(RunOne(*r, 2, {1, 2}) == std::vector<float>{41, 42});
}

TEST_CASE("F2c Slice negative step with start below -dim clamps start to 0", "[engine][hostile-batch]") {
  // ONNX Slice: for a negative step, start is clamped to [0, dim-1] -> start 0, end -1: [10].
  auto r = Load(SliceModel(-100, kI64Min, -1, 1));
  INFO(Msg(r));
  REQUIRE(r.has_value());
  CHECK(RunOne(*r, 2, {1, 2}) == std::vector<float>{11, 12});
}

TEST_CASE("F2d Slice that holds: reverse, step 2, negative axes", "[engine][hostile-batch]") {
  auto r = Load(SliceModel(kI64Max, kI64Min, -1, 4));  // reverse
  INFO(Msg(r));
  REQUIRE(r.has_value());
  CHECK(RunOne(*r, 1, {0, 0, 0, 0}) == std::vector<float>{40, 30, 20, 10});
  auto r2 = Load(SliceModel(1, 100, 2, 2));
  REQUIRE(r2.has_value());
  CHECK(RunOne(*r2, 2, {0, 0, 1, 1}) == std::vector<float>{20, 40, 21, 41});
}

// ---------------------------------------------------------------------------------------------
// F3: inputs the graph does not use / only some batched.

TEST_CASE("F3 an unused batched input next to a fixed one", "[engine][hostile-batch]") {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "a", {"N", "3"});  // never read
  Input(g, "b", {"2"});
  AddNode(g, "Relu", {"b"}, "y");
  Output(g, "y");
  auto r = Load(m);
  INFO(Msg(r));
  REQUIRE(r.has_value());
  const auto& model = *r;
  CHECK(model->dynamic_batch());
  REQUIRE(model->inputs().size() == 2);
  CHECK(model->inputs()[0].batched);
  CHECK_FALSE(model->inputs()[1].batched);
  auto shapes = model->ShapesFor(4);
  REQUIRE(shapes.has_value());
  CHECK(shapes->inputs[0].elements == 12);
  CHECK(shapes->outputs[0].elements == 2);
  std::vector<float> a(12, 1.0f), b{-1.0f, 5.0f}, y(2);
  const float* ins[] = {a.data(), b.data()};
  float* outs[] = {y.data()};
  ExecutionContext ctx(model);
  auto st = ctx.RunBatch(4, ins, outs);
  INFO((st ? "" : st.error().message));
  CHECK(st.has_value());
  CHECK(y == std::vector<float>{0.0f, 5.0f});
  Save(m, "unused_batched.onnx");
}

// ---------------------------------------------------------------------------------------------
// F4: outputs that do not carry the batch in their leading dimension.

onnx::ModelProto TransposeModel() {  // x [N,3] -> y = x^T [3,N]
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", "3"});
  IntsAttr(AddNode(g, "Transpose", {"x"}, "y"), "perm", {1, 0});
  Output(g, "y");
  return m;
}

onnx::ModelProto ReduceOverBatchModel() {  // x [N,3] -> y = mean over N, [1,3]
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", "3"});
  auto* n = AddNode(g, "ReduceMean", {"x"}, "y");
  IntsAttr(n, "axes", {0});
  IntAttr(n, "keepdims", 1);
  Output(g, "y");
  return m;
}

TEST_CASE("F4 models whose output is not batch-major (for the CLI and OIP repros)", "[.][hostile-batch]") {
  auto t = Load(TransposeModel());
  INFO(Msg(t));
  REQUIRE(t.has_value());
  auto st = (*t)->ShapesFor(2);
  REQUIRE(st.has_value());
  CHECK(st->outputs[0].shape == std::vector<int64_t>{3, 2});
  auto rm = Load(ReduceOverBatchModel());
  INFO(Msg(rm));
  REQUIRE(rm.has_value());
  auto sr = (*rm)->ShapesFor(4);
  REQUIRE(sr.has_value());
  CHECK(sr->outputs[0].shape == std::vector<int64_t>{1, 3});
  CHECK(RunOne(*rm, 4, {1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9}) == std::vector<float>{4, 5, 6});
  Save(TransposeModel(), "transpose_out.onnx");
  Save(ReduceOverBatchModel(), "reduce_batch.onnx");
  NpyArray x;
  x.shape = {4, 3};
  for (int k = 0; k < 12; ++k) x.data.push_back(static_cast<float>(k));
  REQUIRE(WriteNpy(HostileDir() + "/x4x3.npy", x).has_value());
  NpyArray empty;
  empty.shape = {0, 3};
  REQUIRE(WriteNpy(HostileDir() + "/x0x3.npy", empty).has_value());
}

// ---------------------------------------------------------------------------------------------
// F5: FindFloatTensor after a RunBatch whose arena could not be allocated.

onnx::ModelProto WideRelu(int64_t width) {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", std::to_string(width)});
  AddNode(g, "Relu", {"x"}, "h");
  AddNode(g, "Sigmoid", {"h"}, "y");
  Output(g, "y");
  return m;
}


// ---------------------------------------------------------------------------------------------
// F6: plans kept alive beyond max_batch_plans by idle contexts.

TEST_CASE("F6 idle contexts keep their last plan until ReleaseBatchPlan", "[engine][hostile-batch]") {
  LoadOptions options;
  options.max_batch_plans = 1;
  auto model = LoadBatchDynamicOrDie("resnet8.qdq.onnx", options);
  const NpyArray eval = ReadOrDie(ZooPath("resnet8.eval.npy"));
  std::vector<std::unique_ptr<ExecutionContext>> contexts;
  std::vector<std::weak_ptr<const CompiledGraph>> plans;
  const int64_t per_out = model->outputs()[0].elements;
  for (int64_t batch = 2; batch <= 8; ++batch) {
    contexts.push_back(std::make_unique<ExecutionContext>(model));
    std::vector<float> out(static_cast<size_t>(batch * per_out));
    const float* in = eval.data.data();
    float* o = out.data();
    REQUIRE(contexts.back()->RunBatch(batch, {&in, 1}, {&o, 1}).has_value());
    plans.push_back(*model->PlanFor(batch));  // the cached one (the context's)
  }
  int alive = 0;
  for (auto& w : plans) alive += w.expired() ? 0 : 1;
  std::printf("F6: max_batch_plans=1, 7 idle contexts: %d plans alive, %lld weight bytes each\n", alive,
              static_cast<long long>(model->weight_bytes()));
  CHECK(alive == 7);  // each context keeps the plan of its last batch size (as documented) ...
  for (auto& c : contexts) c->ReleaseBatchPlan();  // ... until it lets go, as the server's pool does
  alive = 0;
  for (auto& w : plans) alive += w.expired() ? 0 : 1;
  CHECK(alive <= 1);  // the cache bound
}

// ---------------------------------------------------------------------------------------------
// F7: races and eviction while running (stress; also run under ASan).

TEST_CASE("F7 many threads, many batch sizes, one cached plan", "[.][hostile-batch][stress]") {
  LoadOptions options;
  options.max_batch_plans = 1;
  auto model = LoadBatchDynamicOrDie("mlp_anomaly.qdq.onnx", options);
  const NpyArray eval = ReadOrDie(ZooPath("mlp_anomaly.eval.npy"));
  ExecutionContext reference(model);
  int64_t per = 0;
  const auto singles = RunSamples(reference, eval, &per);
  const int64_t rows = eval.shape.at(0);
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      ExecutionContext ctx(model);
      for (int round = 0; round < 150; ++round) {
        const int64_t batch = 1 + static_cast<int64_t>(rng() % static_cast<unsigned>(std::min<int64_t>(rows, 12)));
        std::vector<float> out(static_cast<size_t>(batch * per), -1.0f);
        const float* in = eval.data.data();
        float* o = out.data();
        if (!ctx.RunBatch(batch, {&in, 1}, {&o, 1})) {
          ++failures;
          continue;
        }
        if (!std::equal(out.begin(), out.end(), singles.begin())) ++mismatches;
        if (round % 7 == 0) (void)ctx.Run({&in, 1}, {&o, 1});
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
}

TEST_CASE("F7b FindFloatTensor after RunBatch then Run reads the plan that last ran", "[engine][hostile-batch]") {
  LoadOptions options;
  options.keep_all_tensors = true;
  auto r = Load(WideRelu(4), options);
  REQUIRE(r.has_value());
  ExecutionContext ctx(*r);
  std::vector<float> x{1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12}, y(12);
  const float* in = x.data();
  float* out = y.data();
  REQUIRE(ctx.RunBatch(3, {&in, 1}, {&out, 1}).has_value());
  CHECK(ctx.FindFloatTensor("h").size() == 12);
  REQUIRE(ctx.Run({&in, 1}, {&out, 1}).has_value());
  auto h = ctx.FindFloatTensor("h");
  REQUIRE(h.size() == 4);
  CHECK(std::vector<float>(h.begin(), h.end()) == std::vector<float>{1, 0, 3, 0});
  REQUIRE(ctx.RunBatch(3, {&in, 1}, {&out, 1}).has_value());
  CHECK(ctx.FindFloatTensor("h").size() == 12);
}

// ---------------------------------------------------------------------------------------------
// F8: replanning cost when clients rotate batch sizes (max_batch_plans = 4 by default).

TEST_CASE("F8 rotating five batch sizes replans on every call", "[.][hostile-batch][timing]") {
  auto model = LoadBatchDynamicOrDie("resnet8.qdq.onnx");
  const NpyArray eval = ReadOrDie(ZooPath("resnet8.eval.npy"));
  ExecutionContext ctx(model);
  const int64_t per_out = model->outputs()[0].elements;
  auto run = [&](int64_t batch) {
    std::vector<float> out(static_cast<size_t>(batch * per_out));
    const float* in = eval.data.data();
    float* o = out.data();
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(ctx.RunBatch(batch, {&in, 1}, {&o, 1}).has_value());
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  double cached = 0, rotating = 0;
  for (int k = 0; k < 4; ++k) run(2 + k % 4);
  // Four sizes (max_batch_plans) stay cached: the same plan object on every call.
  auto plan_of = [&](int64_t batch) {
    auto p = model->PlanFor(batch);
    REQUIRE(p.has_value());
    return *p;
  };
  const auto plan2 = plan_of(2);
  for (int k = 0; k < 10; ++k) cached += run(2 + k % 4);
  CHECK(plan_of(2) == plan2);
  // A fifth size evicts the least recently used one: rotating five replans on every call.
  for (int k = 0; k < 10; ++k) rotating += run(2 + k % 5);
  CHECK(plan_of(2) != plan2);
  // The cost, for the record only (a timing is no test on a shared machine: on an AVX-512 host
  // ResNet-8's batches run so fast that replanning was 4.7x a cached call, on the AVX2 host <3x).
  std::printf("F8: resnet8.qdq mean ms per call, 4 sizes rotating (cached) %.2f, 5 sizes rotating %.2f\n",
              cached / 10, rotating / 10);
}

// ---------------------------------------------------------------------------------------------
// F9: Gather / ConstantOfShape / Shape edge cases.

TEST_CASE("F9a ConstantOfShape with a zero or negative dimension", "[engine][hostile-batch]") {
  for (std::vector<int64_t> dims : {std::vector<int64_t>{2, 0}, std::vector<int64_t>{0}, std::vector<int64_t>{-1, 3}}) {
    auto m = NewModel();
    auto* g = m.mutable_graph();
    Input(g, "x", {"N", "3"});
    IntInit(g, "shape", {static_cast<int64_t>(dims.size())}, dims);
    ValueAttr(AddNode(g, "ConstantOfShape", {"shape"}, "c"), onnx::TensorProto::FLOAT, 0, 1.0f);
    AddNode(g, "Add", {"x", "c"}, "y");
    Output(g, "y");
    auto r = Load(m);
    INFO("dims " << dims[0] << "," << (dims.size() > 1 ? dims[1] : 0) << ": " << Msg(r));
    CHECK_FALSE(r.has_value());  // no empty / negative tensors
    std::printf("F9a dims[0]=%lld: %s\n", static_cast<long long>(dims[0]), Msg(r).c_str());
  }
}

TEST_CASE("F9b ConstantOfShape of the empty shape is a scalar and scalar Gather index", "[engine][hostile-batch]") {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", "3"});
  IntInit(g, "empty", {0}, {});
  ValueAttr(AddNode(g, "ConstantOfShape", {"empty"}, "c"), onnx::TensorProto::FLOAT, 0, 2.0f);
  AddNode(g, "Shape", {"x"}, "s");
  IntInit(g, "one", {}, {1}, onnx::TensorProto::INT32);  // int32 scalar index
  AddNode(g, "Gather", {"s", "one"}, "three");  // scalar 3
  AddNode(g, "Mul", {"x", "c"}, "x2");
  AddNode(g, "Add", {"x2", "three"}, "y");  // float + int constant: folded via FloatConst
  Output(g, "y");
  auto r = Load(m);
  INFO(Msg(r));
  REQUIRE(r.has_value());
  CHECK(RunOne(*r, 2, {1, 2, 3, 4, 5, 6}) == std::vector<float>{5, 7, 9, 11, 13, 15});
}

TEST_CASE("F9c Gather of float constants on axis 1 with 2-D indices", "[engine][hostile-batch]") {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", "2", "2", "2"});
  FloatInit(g, "data", {2, 3}, {1, 2, 3, 4, 5, 6});
  IntInit(g, "idx", {2, 2}, {2, -3, 1, 1});
  IntAttr(AddNode(g, "Gather", {"data", "idx"}, "gd"), "axis", 1);  // [2,2,2]: [[[3,1],[2,2]],[[6,4],[5,5]]]
  AddNode(g, "Add", {"x", "gd"}, "y");
  Output(g, "y");
  auto r = Load(m);
  INFO(Msg(r));
  REQUIRE(r.has_value());
  CHECK(RunOne(*r, 1, std::vector<float>(8, 0.0f)) == std::vector<float>{3, 1, 2, 2, 6, 4, 5, 5});
}

TEST_CASE("F9d Shape start/end clamps and Shape of a batched input as a graph output", "[engine][hostile-batch]") {
  {
    auto m = NewModel(15);
    auto* g = m.mutable_graph();
    Input(g, "x", {"N", "2", "3"});
    auto* s = AddNode(g, "Shape", {"x"}, "s");
    IntAttr(s, "start", -100);
    IntAttr(s, "end", 100);
    AddNode(g, "Reshape", {"x", "s"}, "y");
    Output(g, "y");
    auto r = Load(m);
    INFO(Msg(r));
    REQUIRE(r.has_value());
    auto sh = (*r)->ShapesFor(3);
    REQUIRE(sh.has_value());
    CHECK(sh->outputs[0].shape == std::vector<int64_t>{3, 2, 3});
  }
  {
    auto m = NewModel(15);
    auto* g = m.mutable_graph();
    Input(g, "x", {"N", "2", "3"});
    AddNode(g, "Shape", {"x"}, "s");
    Output(g, "s");
    auto r = Load(m);
    std::printf("F9d Shape as graph output: %s\n", Msg(r).c_str());
    REQUIRE(r.has_value());  // an int64 output, given back as floats
    CHECK((*r)->outputs()[0].dtype == DType::kI64);
  }
}

TEST_CASE("F9e integer folding: int32 overflow and mixed int32/int64 Concat", "[engine][hostile-batch]") {
  {
    // Int32 Add of INT32_MAX + 1: ONNX int32 arithmetic; the fold keeps 2147483648 in an int32 tensor.
    auto m = NewModel();
    auto* g = m.mutable_graph();
    Input(g, "x", {"N", "1"});
    IntInit(g, "a", {1}, {2147483647}, onnx::TensorProto::INT32);
    IntInit(g, "b", {1}, {1}, onnx::TensorProto::INT32);
    AddNode(g, "Add", {"a", "b"}, "c");
    AddNode(g, "Add", {"x", "c"}, "y");
    Output(g, "y");
    auto r = Load(m);
    INFO(Msg(r));
    if (r) {
      auto y = RunOne(*r, 1, {0.0f});
      std::printf("F9e int32 INT32_MAX+1 folded to %.1f (int32 wrap would be -2147483648)\n", y[0]);
      CHECK((y[0] == -2147483648.0f || !r.has_value()));
    }
  }
  {
    auto m = NewModel();
    auto* g = m.mutable_graph();
    Input(g, "x", {"N", "6"});
    IntInit(g, "a", {1}, {2}, onnx::TensorProto::INT32);
    IntInit(g, "b", {1}, {-1}, onnx::TensorProto::INT64);
    IntAttr(AddNode(g, "Concat", {"a", "b"}, "shape"), "axis", 0);
    AddNode(g, "Reshape", {"x", "shape"}, "y");
    Output(g, "y");
    auto r = Load(m);
    std::printf("F9e Concat(int32, int64): %s\n", Msg(r).c_str());
    CHECK_FALSE(r.has_value());  // ONNX: Concat inputs must share one type
  }
}

// ---------------------------------------------------------------------------------------------
// F10: symbolic dimension names.

TEST_CASE("F10 unnamed and named batch dimensions", "[engine][hostile-batch]") {
  auto two = [](const std::string& a, const std::string& b) {
    auto m = NewModel();
    auto* g = m.mutable_graph();
    Input(g, "a", {a, "3"});
    Input(g, "b", {b, "3"});
    AddNode(g, "Add", {"a", "b"}, "y");
    Output(g, "y");
    return Load(m);
  };
  auto mixed = two("?", "N");
  std::printf("F10 unnamed+named: %s\n", Msg(mixed).c_str());
  auto both_unnamed = two("?", "?");
  std::printf("F10 two unnamed: %s\n", Msg(both_unnamed).c_str());
  // Rank-1 batched input [N]
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "v", {"N"});
  AddNode(g, "Relu", {"v"}, "y");
  Output(g, "y");
  auto r = Load(m);
  INFO(Msg(r));
  REQUIRE(r.has_value());
  CHECK(RunOne(*r, 3, {-1, 2, -3}) == std::vector<float>{0, 2, 0});
  Save(m, "rank1_batched.onnx");
  // Reshape with 0 (copy) in a batched graph
  auto m2 = NewModel();
  auto* g2 = m2.mutable_graph();
  Input(g2, "x", {"N", "2", "3"});
  IntInit(g2, "shape", {2}, {0, -1});
  AddNode(g2, "Reshape", {"x", "shape"}, "y");
  Output(g2, "y");
  auto r2 = Load(m2);
  INFO(Msg(r2));
  REQUIRE(r2.has_value());
  auto s2 = (*r2)->ShapesFor(5);
  REQUIRE(s2.has_value());
  CHECK(s2->outputs[0].shape == std::vector<int64_t>{5, 6});
  Save(TransposeModel(), "transpose_out.onnx");
  // two inputs sharing N for the OIP tests
  auto m3 = NewModel();
  auto* g3 = m3.mutable_graph();
  Input(g3, "a", {"N", "3"});
  Input(g3, "b", {"N", "3"});
  AddNode(g3, "Add", {"a", "b"}, "y");
  Output(g3, "y");
  Save(m3, "two_inputs.onnx");
}

// ---------------------------------------------------------------------------------------------
// F11: batch at max_batch against max_arena_bytes; plan memory of a big batch.

TEST_CASE("F11 a batch whose arena exceeds max_arena_bytes is refused, the context survives", "[.][hostile-batch]") {
  LoadOptions options;
  options.max_arena_bytes = 64 << 20;  // 64 MiB
  auto r = Load(WideRelu(1 << 16), options);  // 3 tensors x 256 KiB per sample
  REQUIRE(r.has_value());
  auto big = (*r)->ShapesFor(256);
  REQUIRE_FALSE(big.has_value());
  std::printf("F11: %s\n", big.error().message.c_str());
  ExecutionContext ctx(*r);
  std::vector<float> x(1 << 16, 1.0f), y(1 << 16);
  const float* in = x.data();
  float* out = y.data();
  CHECK_FALSE(ctx.RunBatch(256, {&in, 1}, {&out, 1}).has_value());
  CHECK(ctx.Run({&in, 1}, {&out, 1}).has_value());
  CHECK(y[0] == Approx(0.7310586f));
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

// F12: the fold bound is per tensor; the total of folded constants is not bounded, and every
// batch plan folds again.
onnx::ModelProto ManyConstantOfShape(int nodes, int64_t each) {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", "3"});
  IntInit(g, "len", {1}, {each});
  for (int k = 0; k < nodes; ++k) {
    ValueAttr(AddNode(g, "ConstantOfShape", {"len"}, "c" + std::to_string(k)), onnx::TensorProto::INT64, k);
  }
  AddNode(g, "Relu", {"x"}, "y");
  Output(g, "y");
  return m;
}

long RssKb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  long kb = 0;
  while (f && std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmHWM: %ld", &kb) == 1) break;
  }
  if (f) std::fclose(f);
  return kb;
}

TEST_CASE("F12a many folded constants: total memory is unbounded", "[engine][hostile-batch]") {
  const long before = RssKb();
  const auto t0 = std::chrono::steady_clock::now();
  auto m = ManyConstantOfShape(40, int64_t{1} << 22);  // 40 x 32 MiB
  std::string bytes;
  m.SerializeToString(&bytes);
  auto r = Load(m);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("F12a: %zu-byte model, 40 ConstantOfShape of 2^22 int64: %s in %.2f s, peak RSS +%ld MiB\n", bytes.size(),
              Msg(r).c_str(), s, (RssKb() - before) / 1024);
  Save(ManyConstantOfShape(1000, int64_t{1} << 22), "cos_bomb.onnx");
  CHECK((RssKb() - before) < 512 * 1024);
}

onnx::ModelProto AddChain(int nodes) {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", "3"});
  IntInit(g, "len", {2}, {2048, 2048});
  ValueAttr(AddNode(g, "ConstantOfShape", {"len"}, "c0"), onnx::TensorProto::INT64, 1);
  IntInit(g, "one", {1}, {1});
  std::string prev = "c0";
  for (int k = 1; k <= nodes; ++k) prev = AddNode(g, "Add", {prev, "one"}, "c" + std::to_string(k))->output(0);
  AddNode(g, "Relu", {"x"}, "y");
  Output(g, "y");
  return m;
}

TEST_CASE("F12b folding cost repeats for every batch size", "[engine][hostile-batch]") {
  auto t0 = std::chrono::steady_clock::now();
  auto r = Load(AddChain(8));
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE_FALSE(r.has_value());  // 8 x 2^22 folded elements: over the model's bound
  CHECK_THAT(r.error().message, Catch::Contains("over the limit of 4194304 elements"));
  CHECK(load_s < 1.0);
  return;
  t0 = std::chrono::steady_clock::now();
  for (int64_t b = 2; b <= 4; ++b) REQUIRE((*r)->ShapesFor(b).has_value());
  const double plans_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("F12b: 8 folded Adds of 2^22 int64: load %.2f s, 3 more batch sizes %.2f s\n", load_s, plans_s);
  CHECK(load_s < 1.0);
}

// F13: shape-arithmetic patterns exporters write around the folded ops.
TEST_CASE("F13 Cast and Reshape of shape tensors", "[engine][hostile-batch]") {
  auto attempt = [](const std::string& what, const std::function<void(onnx::GraphProto*)>& body) {
    auto m = NewModel();
    auto* g = m.mutable_graph();
    Input(g, "x", {"N", "2", "3"});
    AddNode(g, "Shape", {"x"}, "s");
    body(g);
    Output(g, "y");
    auto r = Load(m);
    std::printf("F13 %s: %s\n", what.c_str(), Msg(r).c_str());
    if (r) {
      auto sh = (*r)->ShapesFor(4);
      if (sh) std::printf("    at batch 4 output shape [%lld, %lld]\n", (long long)sh->outputs[0].shape[0],
                          (long long)(sh->outputs[0].shape.size() > 1 ? sh->outputs[0].shape[1] : -7));
    }
    return r.has_value();
  };
  CHECK(attempt("Cast(Shape, INT64) -> Reshape", [](onnx::GraphProto* g) {
    IntAttr(AddNode(g, "Cast", {"s"}, "s64"), "to", onnx::TensorProto::INT64);
    AddNode(g, "Reshape", {"x", "s64"}, "y");
  }));
  CHECK(attempt("Reshape(Shape, [-1]) -> Reshape", [](onnx::GraphProto* g) {
    IntInit(g, "m1", {1}, {-1});
    AddNode(g, "Reshape", {"s", "m1"}, "s1");
    AddNode(g, "Reshape", {"x", "s1"}, "y");
  }));
  CHECK(attempt("Gather(Shape,0) Div 2 (floor div) -> Reshape [n/2, -1]", [](onnx::GraphProto* g) {
    IntInit(g, "zero", {}, {0});
    IntInit(g, "two", {}, {2});
    IntInit(g, "axes", {1}, {0});
    IntInit(g, "m1", {1}, {-1});
    AddNode(g, "Gather", {"s", "zero"}, "n");
    AddNode(g, "Div", {"n", "two"}, "h");
    AddNode(g, "Unsqueeze", {"h", "axes"}, "h1");
    IntAttr(AddNode(g, "Concat", {"h1", "m1"}, "ns"), "axis", 0);
    AddNode(g, "Reshape", {"x", "ns"}, "y");
  }));
  CHECK(attempt("Cast(Gather(Shape,0), FLOAT) * x", [](onnx::GraphProto* g) {
    IntInit(g, "zero", {}, {0});
    AddNode(g, "Gather", {"s", "zero"}, "n");
    IntAttr(AddNode(g, "Cast", {"n"}, "nf"), "to", onnx::TensorProto::FLOAT);
    AddNode(g, "Mul", {"x", "nf"}, "y");
  }));
  CHECK(attempt("Squeeze(Slice(Shape,0,1)) as Gather alternative", [](onnx::GraphProto* g) {
    IntInit(g, "st", {1}, {0});
    IntInit(g, "en", {1}, {1});
    IntInit(g, "axes", {1}, {0});
    IntInit(g, "m1", {1}, {-1});
    AddNode(g, "Slice", {"s", "st", "en"}, "n1");
    IntAttr(AddNode(g, "Concat", {"n1", "m1"}, "ns"), "axis", 0);
    AddNode(g, "Reshape", {"x", "ns"}, "y");
  }));
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

// F14: an empty input name (ONNX's "optional input omitted") in a folded Concat / Add.
onnx::ModelProto EmptyNameFold(const std::string& op) {
  auto m = NewModel();
  auto* g = m.mutable_graph();
  Input(g, "x", {"N", "6"});
  IntInit(g, "a", {1}, {2});
  auto* n = AddNode(g, op, {"a", ""}, "c");
  if (op == "Concat") IntAttr(n, "axis", 0);
  AddNode(g, "Relu", {"x"}, "y");
  Output(g, "y");
  return m;
}

TEST_CASE("F14 folded Concat with an empty input name", "[engine][hostile-batch]") {
  Save(EmptyNameFold("Concat"), "concat_empty_name.onnx");
  Save(EmptyNameFold("Add"), "add_empty_name.onnx");
  auto r = Load(EmptyNameFold("Concat"));
  std::printf("F14 Concat(a, \"\"): %s\n", Msg(r).c_str());
  CHECK_FALSE(r.has_value());
}

TEST_CASE("F14b folded Add with an empty input name", "[engine][hostile-batch]") {
  auto r = Load(EmptyNameFold("Add"));
  std::printf("F14b Add(a, \"\"): %s\n", Msg(r).c_str());
  CHECK_FALSE(r.has_value());
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

TEST_CASE("F6b what one served context keeps after one batch-256 request", "[.][hostile-batch]") {
  for (const char* file : {"resnet8.qdq.onnx", "mobilenet_v2_block.qdq.onnx"}) {
    auto model = LoadBatchDynamicOrDie(file);
    auto p256 = model->PlanFor(256);
    REQUIRE(p256.has_value());
    const auto in = (*model->ShapesFor(256)).inputs[0].elements * 4;
    const auto out = (*model->ShapesFor(256)).outputs[0].elements * 4;
    std::printf("F6b %s: arena batch 1 %lld B, batch 256 %lld B; lease buffers at 256: %lld B; plan weights %lld B\n",
                file, static_cast<long long>(model->arena_bytes()), static_cast<long long>((*p256)->arena_bytes),
                static_cast<long long>(in + out), static_cast<long long>((*p256)->pool.total_bytes));
  }
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

// Run only under ASan with ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=1024
// (the arena allocation of batch 4096 then fails without touching memory).

}  // namespace
}  // namespace edge::engine::testing
