// Proves Run() allocates nothing: this binary replaces the global allocation functions with
// counting ones, loads every zoo model, warms a context up and counts across many runs.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

// glibc routes every C allocation through these, so counting here sees operator new too.
void* malloc(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t s) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, s);
}
void* realloc(void* p, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t a, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(a, n);
}
int posix_memalign(void** p, size_t a, size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  *p = __libc_memalign(a, n);
  return *p != nullptr ? 0 : 12;
}
}

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = __libc_malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }

namespace edge::engine::testing {
namespace {

TEST_CASE("the allocation counter sees allocations", "[engine][alloc]") {
  const int64_t before = g_allocations.load();
  auto* p = new std::vector<int>(100);
  delete p;
  CHECK(g_allocations.load() > before);
}

TEST_CASE("Run performs zero heap allocations on every zoo model", "[engine][alloc][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  for (const auto& name : ZooModels()) {
    for (const std::string suffix : {".onnx", ".qdq.onnx"}) {
      DYNAMIC_SECTION(name << suffix) {
        auto model = LoadOrDie(ZooPath(name + suffix));
        const NpyArray input = ReadOrDie(ZooPath(name + ".input.npy"));
        for (KernelTier tier : tiers) {
          ExecutionContext ctx(model, tier);
          std::vector<float> out(static_cast<size_t>(model->outputs()[0].elements));
          const float* in = input.data.data();
          float* o = out.data();
          RunTiming timing;
          REQUIRE(ctx.Run({&in, 1}, {&o, 1}, &timing).has_value());  // warm-up
          const int64_t before = g_allocations.load();
          bool ok = true;
          for (int i = 0; i < 20; ++i) ok = ctx.Run({&in, 1}, {&o, 1}, &timing).has_value() && ok;
          const int64_t during = g_allocations.load() - before;
          CHECK(ok);
          INFO(name << suffix << " tier " << KernelTierName(tier));
          CHECK(during == 0);
          CHECK(timing.total_ns > 0);
        }
      }
    }
  }
}

TEST_CASE("RunBatch allocates nothing once a context has run that batch size", "[engine][alloc][batch]") {
  auto model = LoadBatchDynamicOrDie("resnet8.qdq.onnx");
  const NpyArray eval = ReadOrDie(ZooPath("resnet8.eval.npy"));
  ExecutionContext ctx(model);
  std::vector<float> out(static_cast<size_t>(8 * model->outputs()[0].elements));
  const float* in = eval.data.data();
  float* o = out.data();
  // Sizes 8 and 4 planned and the arena grown to the larger one: alternating between them, and
  // going back to 1, costs nothing more.
  REQUIRE(ctx.RunBatch(8, {&in, 1}, {&o, 1}).has_value());
  REQUIRE(ctx.RunBatch(4, {&in, 1}, {&o, 1}).has_value());
  const int64_t before = g_allocations.load();
  bool ok = true;
  for (int i = 0; i < 6; ++i) ok = ctx.RunBatch(i % 2 == 0 ? 8 : 4, {&in, 1}, {&o, 1}).has_value() && ok;
  ok = ctx.RunBatch(1, {&in, 1}, {&o, 1}).has_value() && ok;
  const int64_t during = g_allocations.load() - before;
  CHECK(ok);
  CHECK(during == 0);
}

TEST_CASE("Run performs zero heap allocations on integer tensors and typed steps", "[engine][alloc]") {
  using TP = onnx::TensorProto;
  Builder b(13);
  b.Input("x", {1, 1, 2, 4}, TP::UINT8).Input("s", {}).Input("z", {}, TP::UINT8).Output("q").Output("y");
  b.Node("Add", {"x", "x"}, {"a"});
  IntsAttr(b.Node("MaxPool", {"a"}, {"p"}), "kernel_shape", {1, 2});
  b.Node("DequantizeLinear", {"p", "s", "z"}, {"f"});
  b.Node("QuantizeLinear", {"f", "s", "z"}, {"q"});
  IntAttr(b.Node("Cast", {"q"}, {"y"}), "to", TP::INT64);
  auto model = LoadOk(b);
  ExecutionContext ctx(model);
  const std::vector<float> x = {1, 2, 3, 200, 5, 6, 7, 8}, s = {0.5f}, z = {3};
  std::vector<float> q(6), y(6);
  const float* in[] = {x.data(), s.data(), z.data()};
  float* out[] = {q.data(), y.data()};
  REQUIRE(ctx.Run(in, out).has_value());  // warm-up
  const int64_t before = g_allocations.load();
  for (int i = 0; i < 20; ++i) REQUIRE(ctx.Run(in, out).has_value());
  CHECK(g_allocations.load() - before == 0);
  CHECK(y == std::vector<float>{4, 6, 144, 12, 14, 16});  // 200 + 200 wraps to 144 in uint8
}

TEST_CASE("Run performs zero heap allocations on Gather with run-time indices", "[engine][alloc]") {
  // ids -> Gather of a float table, of int8 codes behind DequantizeLinear, and of a computed
  // tensor (x), an out-of-range id among them
  using TP = onnx::TensorProto;
  Builder b(13);
  b.Input("x", {3, 2}).Input("ids", {2, 2}, TP::INT64).Output("a").Output("c").Output("d");
  b.Init("table", {3, 2}, {1, 2, 3, 4, 5, 6}).InitI8("codes", {3, 2}, {1, 2, 3, 4, 5, 6});
  b.Init("s", {}, {0.5f}).InitI8("z", {}, {1});
  b.Node("Gather", {"table", "ids"}, {"a"});
  b.Node("DequantizeLinear", {"codes", "s", "z"}, {"t8"});
  b.Node("Gather", {"t8", "ids"}, {"c"});
  IntAttr(b.Node("Gather", {"x", "ids"}, {"d"}), "axis", 1);
  auto model = LoadOk(b);
  ExecutionContext ctx(model);
  const std::vector<float> x = {10, 20, 30, 40, 50, 60}, ids = {2, -3, 7, 1};
  std::vector<float> a(8), c(8), d(12);
  const float* in[] = {x.data(), ids.data()};
  float* out[] = {a.data(), c.data(), d.data()};
  REQUIRE(ctx.Run(in, out).has_value());  // warm-up
  const int64_t before = g_allocations.load();
  for (int i = 0; i < 20; ++i) REQUIRE(ctx.Run(in, out).has_value());
  CHECK(g_allocations.load() - before == 0);
  CHECK(a == std::vector<float>{5, 6, 1, 2, 0, 0, 3, 4});
  CHECK(c == std::vector<float>{2, 2.5f, 0, 0.5f, 0, 0, 1, 1.5f});
}

TEST_CASE("Run performs zero heap allocations on recurrent cells", "[engine][alloc][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  // run-time lengths and states, a bidirectional GRU with constant lengths, a batch-first LSTM
  for (const std::string name : {"lstm_runtime_states", "gru_bidir_lens", "lstm_input_forget_batch_first"}) {
    DYNAMIC_SECTION(name) {
      auto model = LoadOrDie(std::string(EDGE_RECURRENT_DIR) + "/" + name + ".onnx");
      std::vector<std::vector<float>> inputs;
      for (size_t k = 0; k < model->inputs().size(); ++k) {
        inputs.push_back(ReadOrDie(std::string(EDGE_RECURRENT_DIR) + "/" + name + ".in" + std::to_string(k) + ".npy").data);
      }
      std::vector<std::vector<float>> outputs;
      for (const auto& info : model->outputs()) outputs.emplace_back(static_cast<size_t>(info.elements));
      std::vector<const float*> in;
      std::vector<float*> out;
      for (const auto& x : inputs) in.push_back(x.data());
      for (auto& y : outputs) out.push_back(y.data());
      for (KernelTier tier : tiers) {
        ExecutionContext ctx(model, tier);
        REQUIRE(ctx.Run(in, out).has_value());  // warm-up
        const int64_t before = g_allocations.load();
        bool ok = true;
        for (int i = 0; i < 20; ++i) ok = ctx.Run(in, out).has_value() && ok;
        const int64_t during = g_allocations.load() - before;
        CHECK(ok);
        INFO(name << " tier " << KernelTierName(tier));
        CHECK(during == 0);
      }
    }
  }
}

}  // namespace
}  // namespace edge::engine::testing
