#include "agent/engine/cli/model_commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/npy_io.h"
#include "agent/engine/shape_rules.h"
#include "common/core/exit_codes.h"

namespace edge::engine {
namespace {

// Failures of the work itself (a bad model, an unreadable file) are errors, not usage errors:
// usage (exit 2) is reserved for wrong command lines, which the commands check themselves.
int ReportError(const Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message.c_str());
  return kExitError;
}

// The --tier option of run and bench.
constexpr const char* kTierHelp =
    "kernel tier: auto, scalar, avx2, avxvnni, avx512vnni, amx (x86-64), neon, neondot, i8mm (arm64); one this CPU lacks runs the best it has";

bool ParseTierOrComplain(const std::string& text, KernelTier& tier) {
  if (ParseKernelTier(text, tier)) return true;
  std::fprintf(stderr, "error: unknown kernel tier '%s' (auto, scalar, avx2, avxvnni, avx512vnni, amx, neon, neondot, i8mm)\n", text.c_str());
  return false;
}

// ------------------------------------------------------------------ inspect
int RunInspect(const std::string& path) {
  auto model = Model::LoadFile(path);
  if (!model) return ReportError(model.error());
  const Model& m = **model;
  std::printf("model: %s (%s)\n", path.c_str(), m.is_quantized() ? "int8 QDQ" : "float32");
  // The model's element type; .npy files and the API carry every type as float32. A batch
  // dimension shows as N.
  auto print = [](const char* role, const TensorInfo& t) {
    std::string shape = ShapeText(t.shape);
    if (t.batched) shape.replace(1, shape.find_first_of(",]") - 1, "N");
    std::printf("%s %s %s %s%s\n", role, t.name.c_str(), DTypeName(t.dtype).c_str(), shape.c_str(),
                t.dtype == DType::kF32 ? "" : " (as float32 in .npy files)");
  };
  for (const auto& t : m.inputs()) print("input: ", t);
  for (const auto& t : m.outputs()) print("output:", t);
  if (m.dynamic_batch()) {
    std::printf("batch: dynamic (N = 1..%lld per call; shapes above are at N = 1)\n",
                static_cast<long long>(m.max_batch()));
  }
  std::printf("arena: %lld bytes per execution context\n", static_cast<long long>(m.arena_bytes()));
  std::printf("weights: %lld bytes (pre-packed)\n", static_cast<long long>(m.weight_bytes()));
  std::printf("kernel tier: %s (best supported on this CPU)\n", std::string(KernelTierName(BestSupportedTier())).c_str());
  const auto steps = m.StepSummary();
  std::printf("steps: %zu\n", steps.size());
  for (size_t i = 0; i < steps.size(); ++i) std::printf("  %3zu  %s\n", i, steps[i].c_str());
  return kExitOk;
}

// ------------------------------------------------------------------ run
struct RunArgs {
  std::string model;
  std::vector<std::string> inputs, outputs;
  std::string tier = "auto";
  int64_t batch = 1;
};

// Checks that `batch` samples go through `m` in one call with every input and output growing by
// the batch (samples along the leading dimension); says why not otherwise.
Status CheckBatch(const Model& m, int64_t batch) {
  if (batch == 1) return Ok();
  EDGE_ASSIGN_OR_RETURN(BatchShapes shapes, m.ShapesFor(batch));
  auto check = [&](const std::vector<TensorInfo>& one, const std::vector<TensorInfo>& many, const char* what) -> Status {
    // Sample-major: [1, ...] at batch 1 and [batch, ...] at `batch`, the rest alike, so that
    // sample k's values are the k-th block of the buffer.
    for (size_t i = 0; i < one.size(); ++i) {
      const auto& a = one[i].shape;
      const auto& b = many[i].shape;
      const bool sample_major = !a.empty() && a.size() == b.size() && a[0] == 1 && b[0] == batch &&
                                std::equal(a.begin() + 1, a.end(), b.begin() + 1);
      if (!sample_major) {
        return Fail(ErrorCode::kInvalidArgument, std::string(what) + " '" + one[i].name + "' is " + ShapeText(b) +
                                                     " at batch " + std::to_string(batch) + " and " + ShapeText(a) +
                                                     " at batch 1: its leading dimension is not the batch, so --batch "
                                                     "cannot split it into samples");
      }
    }
    return Ok();
  };
  EDGE_TRY(check(m.inputs(), shapes.inputs, "input"));
  return check(m.outputs(), shapes.outputs, "output");
}

int RunModel(const RunArgs& a) {
  KernelTier tier;
  if (!ParseTierOrComplain(a.tier, tier)) return kExitUsage;
  auto model = Model::LoadFile(a.model);
  if (!model) return ReportError(model.error());
  const Model& m = **model;
  if (a.inputs.size() != m.inputs().size()) {
    std::fprintf(stderr, "error: the model has %zu inputs, %zu --input files given\n", m.inputs().size(), a.inputs.size());
    return kExitUsage;
  }
  if (!a.outputs.empty() && a.outputs.size() != m.outputs().size()) {
    std::fprintf(stderr, "error: the model has %zu outputs, %zu --output files given\n", m.outputs().size(), a.outputs.size());
    return kExitUsage;
  }
  std::vector<NpyArray> in_arrays;
  int64_t samples = -1;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    auto arr = ReadNpy(a.inputs[i]);
    if (!arr) return ReportError(arr.error());
    const int64_t per = m.inputs()[i].elements;
    const auto n = static_cast<int64_t>(arr->data.size());
    if (per == 0 || n == 0 || n % per != 0) {
      std::fprintf(stderr, "error: %s holds %lld floats; input '%s' needs a positive multiple of %lld (shape %s)\n",
                   a.inputs[i].c_str(), static_cast<long long>(n), m.inputs()[i].name.c_str(),
                   static_cast<long long>(per), ShapeText(m.inputs()[i].shape).c_str());
      return kExitUsage;
    }
    if (samples >= 0 && n / per != samples) {
      std::fprintf(stderr, "error: %s holds %lld samples and %s %lld: every input needs the same number\n",
                   a.inputs[i].c_str(), static_cast<long long>(n / per), a.inputs[0].c_str(),
                   static_cast<long long>(samples));
      return kExitUsage;
    }
    samples = n / per;
    in_arrays.push_back(std::move(*arr));
  }
  if (samples < 0) samples = 1;  // a model without inputs runs once
  const int64_t batch = std::min(a.batch, samples);
  ExecutionContext ctx(*model, tier);
  std::vector<NpyArray> out_arrays(m.outputs().size());
  for (size_t o = 0; o < out_arrays.size(); ++o) {
    out_arrays[o].data.resize(static_cast<size_t>(samples * m.outputs()[o].elements));
    out_arrays[o].shape = m.outputs()[o].shape;
    if (samples != 1) out_arrays[o].shape.insert(out_arrays[o].shape.begin(), samples);
  }
  int64_t total_ns = 0, calls = 0;
  for (int64_t s = 0; s < samples; s += batch) {
    const int64_t n = std::min(batch, samples - s);  // the last call may be smaller
    if (auto st = CheckBatch(m, n); !st) return ReportError(st.error());
    std::vector<const float*> ins;
    for (size_t i = 0; i < in_arrays.size(); ++i) ins.push_back(in_arrays[i].data.data() + s * m.inputs()[i].elements);
    std::vector<float*> outs;
    for (size_t o = 0; o < out_arrays.size(); ++o) outs.push_back(out_arrays[o].data.data() + s * m.outputs()[o].elements);
    RunTiming timing;
    auto st = ctx.RunBatch(n, ins, outs, &timing);
    if (!st) return ReportError(st.error());
    total_ns += timing.total_ns;
    ++calls;
  }
  for (size_t o = 0; o < out_arrays.size(); ++o) {
    const std::string path = a.outputs.empty() ? m.outputs()[o].name + ".npy" : a.outputs[o];
    auto st = WriteNpy(path, out_arrays[o]);
    if (!st) return ReportError(st.error());
    std::printf("wrote %s %s\n", path.c_str(), ShapeText(out_arrays[o].shape).c_str());
  }
  std::printf("%lld sample(s) in %lld call(s), %.1f us per sample (%s)\n", static_cast<long long>(samples),
              static_cast<long long>(calls), double(total_ns) / double(samples) / 1000.0,
              std::string(KernelTierName(ctx.tier())).c_str());
  return kExitOk;
}

// ------------------------------------------------------------------ bench
struct BenchArgs {
  std::string model;
  int iterations = 200, warmup = 20;
  std::string tier = "auto";
  bool profile = false;
  int64_t batch = 1;
};

int RunBench(const BenchArgs& a) {
  KernelTier tier;
  if (!ParseTierOrComplain(a.tier, tier)) return kExitUsage;
  if (a.iterations <= 0 || a.warmup < 0) {
    std::fprintf(stderr, "error: --iterations must be positive and --warmup non-negative\n");
    return kExitUsage;
  }
  auto model = Model::LoadFile(a.model);
  if (!model) return ReportError(model.error());
  const Model& m = **model;
  auto shapes = m.ShapesFor(a.batch);
  if (!shapes) return ReportError(shapes.error());
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<std::vector<float>> ins, outs;
  for (const auto& t : shapes->inputs) {
    ins.emplace_back(static_cast<size_t>(t.elements));
    for (float& v : ins.back()) v = dist(rng);
  }
  for (const auto& t : shapes->outputs) outs.emplace_back(static_cast<size_t>(t.elements));
  std::vector<const float*> in_ptrs;
  for (auto& v : ins) in_ptrs.push_back(v.data());
  std::vector<float*> out_ptrs;
  for (auto& v : outs) out_ptrs.push_back(v.data());
  ExecutionContext ctx(*model, tier);
  std::vector<double> us;
  auto steps = m.StepSummaryFor(a.batch);
  if (!steps) return ReportError(steps.error());
  std::vector<int64_t> step_ns(steps->size(), 0);
  for (int i = 0; i < a.warmup + a.iterations; ++i) {
    RunTiming timing;
    if (a.profile && i >= a.warmup) timing.step_ns = step_ns.data();
    auto st = ctx.RunBatch(a.batch, in_ptrs, out_ptrs, &timing);
    if (!st) return ReportError(st.error());
    if (i >= a.warmup) us.push_back(double(timing.total_ns) / 1000.0);
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[std::min(us.size() - 1, static_cast<size_t>(p * double(us.size())))]; };
  double mean = 0;
  for (double v : us) mean += v;
  mean /= double(us.size());
  std::printf("%s: tier %s, %d iterations, single thread\n", a.model.c_str(),
              std::string(KernelTierName(ctx.tier())).c_str(), a.iterations);
  std::printf("latency us: p50 %.1f  p90 %.1f  p99 %.1f  mean %.1f  min %.1f\n", pct(0.5), pct(0.9), pct(0.99), mean, us.front());
  if (a.batch > 1) {
    std::printf("batch %lld: %.2f us per sample (mean), %.0f samples/s\n", static_cast<long long>(a.batch),
                mean / double(a.batch), 1e6 * double(a.batch) / mean);
  }
  std::printf("arena %lld bytes at batch 1\n", static_cast<long long>(m.arena_bytes()));
  if (a.profile) {
    std::printf("per step (mean us over the timed runs):\n");
    for (size_t i = 0; i < steps->size(); ++i) {
      std::printf("  %8.2f  %s\n", double(step_ns[i]) / 1000.0 / a.iterations, (*steps)[i].c_str());
    }
  }
  return kExitOk;
}

}  // namespace

void RegisterModelCommands(CLI::App& model, int& exit_code) {
  model.require_subcommand(1);

  RegisterQuantizeCommand(model, exit_code);

  auto path = std::make_shared<std::string>();
  auto* inspect = model.add_subcommand("inspect", "Show a model's inputs, outputs, steps and arena size");
  inspect->add_option("model", *path, "ONNX model")->required()->check(CLI::ExistingFile);
  inspect->callback([path, &exit_code] { exit_code = RunInspect(*path); });

  auto r = std::make_shared<RunArgs>();
  auto* run = model.add_subcommand("run", "Run a model on .npy inputs and write .npy outputs");
  run->add_option("model", r->model, "ONNX model")->required()->check(CLI::ExistingFile);
  run->add_option("--input,-i", r->inputs, "input .npy (float32, C order), one per model input, in order; "
                                           "a leading axis of samples runs each; none for a model without inputs");
  // --out, not -o: in edgectl, -o is the global output format (table|json), as in kubectl.
  run->add_option("--out", r->outputs, "output .npy, one per model output (default: <output name>.npy)");
  run->add_option("--tier", r->tier, kTierHelp);
  run->add_option("--batch", r->batch,
                  "samples per call for a model with a symbolic batch dimension (default 1; the last call may be smaller)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  run->callback([r, &exit_code] { exit_code = RunModel(*r); });

  auto b = std::make_shared<BenchArgs>();
  auto* bench = model.add_subcommand("bench", "Time a model single-threaded on random inputs");
  bench->add_option("model", b->model, "ONNX model")->required()->check(CLI::ExistingFile);
  bench->add_option("--iterations,-n", b->iterations, "timed runs (default 200)");
  bench->add_option("--warmup", b->warmup, "untimed runs first (default 20)");
  bench->add_option("--tier", b->tier, kTierHelp);
  bench->add_flag("--profile", b->profile, "also print the mean time of every step");
  bench->add_option("--batch", b->batch, "samples per run, for a model with a symbolic batch dimension (default 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  bench->callback([b, &exit_code] { exit_code = RunBench(*b); });
}

}  // namespace edge::engine
