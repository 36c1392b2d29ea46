// edge_engine_bench: the engine side of tests/bench/engine/run_bench.js.
//   edge_engine_bench tiers    GEMM GOP/s of every kernel tier this CPU has (any architecture)
//   edge_engine_bench gemm     GEMM sweep against a measured VNNI peak (x86-64 with AVX-512 VNNI)
//   edge_engine_bench amx      AVX-512 VNNI vs AMX tiles by shape (the AMX crossover; x86-64)
//   edge_engine_bench serve    line protocol on stdin/stdout, so the node driver can
//                              interleave engine and ONNX Runtime runs in one loop:
//     load ID PATH             -> "ok" | "error MESSAGE"
//     run ID TIER N INPUT.npy  -> "ns T1 T2 ... TN" (per-run engine time, single thread);
//                                 a model of several inputs takes A.npy,B.npy,... in its order
//     runb ID TIER N BATCH INPUT.npy
//                              -> the same for N runs of one batch of BATCH samples (the
//                                 input's rows, repeated when it has fewer), for a model with
//                                 a symbolic batch dimension
//   edge_engine_bench batchify IN.onnx OUT.onnx
//                              writes IN with its batch dimension symbolic (dim_param "N")
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/npy_io.h"
#include "tests/bench/engine/tier_sweep.h"
#include "tests/support/batch_dynamic.h"
#if defined(__x86_64__)
#include "tests/bench/engine/amx_sweep.h"
#include "tests/bench/engine/gemm_sweep.h"
#endif

namespace {

using edge::engine::ExecutionContext;
using edge::engine::KernelTier;
using edge::engine::Model;

int Serve() {
  std::map<std::string, std::shared_ptr<const Model>> models;
  std::map<std::string, edge::engine::NpyArray> inputs;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "quit") break;
    if (cmd == "load") {
      std::string id, path;
      in >> id >> path;
      auto m = Model::LoadFile(path);
      if (!m) {
        std::cout << "error " << m.error().message << std::endl;
        continue;
      }
      models[id] = *m;
      std::cout << "ok" << std::endl;
    } else if (cmd == "run" || cmd == "runb") {
      std::string id, tier_name, input_path;
      int n = 0;
      int64_t batch = 1;
      in >> id >> tier_name >> n;
      if (cmd == "runb") in >> batch;
      in >> input_path;
      KernelTier tier;
      auto it = models.find(id);
      if (it == models.end() || !edge::engine::ParseKernelTier(tier_name, tier) || n <= 0 || batch <= 0) {
        std::cout << "error bad run command" << std::endl;
        continue;
      }
      std::vector<std::string> paths;
      std::istringstream list(input_path);
      for (std::string part; std::getline(list, part, ',');) paths.push_back(part);
      std::string failed;
      for (const auto& p : paths) {
        if (inputs.count(p) != 0) continue;
        auto a = edge::engine::ReadNpy(p);
        if (!a) {
          failed = a.error().message;
          break;
        }
        inputs[p] = std::move(*a);
      }
      const auto& model = it->second;
      auto shapes = model->ShapesFor(batch);
      if (failed.empty() && !shapes) failed = shapes.error().message;
      if (failed.empty() && paths.size() != shapes->inputs.size()) {
        failed = "the model has " + std::to_string(shapes->inputs.size()) + " inputs, " + std::to_string(paths.size()) +
                 " files given";
      }
      if (!failed.empty()) {
        std::cout << "error " << failed << std::endl;
        continue;
      }
      // per input, its file's first rows (repeated for a batch larger than the file)
      std::vector<std::vector<float>> batch_inputs;
      for (size_t k = 0; k < paths.size(); ++k) {
        const auto& rows = inputs[paths[k]].data;
        batch_inputs.emplace_back(static_cast<size_t>(shapes->inputs[k].elements));
        for (size_t i = 0; i < batch_inputs[k].size(); ++i) batch_inputs[k][i] = rows[i % rows.size()];
      }
      std::vector<const float*> xs;
      for (const auto& b : batch_inputs) xs.push_back(b.data());
      ExecutionContext ctx(model, tier);
      // a buffer per graph output (a detector's heads)
      std::vector<std::vector<float>> outs;
      std::vector<float*> ys;
      for (const auto& o : shapes->outputs) outs.emplace_back(static_cast<size_t>(o.elements));
      for (auto& o : outs) ys.push_back(o.data());
      edge::engine::RunTiming timing;
      (void)ctx.RunBatch(batch, {xs.data(), xs.size()}, {ys.data(), ys.size()}, &timing);  // warm the context's arena
      std::ostringstream reply;
      reply << "ns";
      for (int i = 0; i < n; ++i) {
        if (auto run = ctx.RunBatch(batch, {xs.data(), xs.size()}, {ys.data(), ys.size()}, &timing); !run) {
          reply.str("");
          reply << "error " << run.error().message;
          break;
        }
        reply << ' ' << timing.total_ns;
      }
      std::cout << reply.str() << std::endl;
    } else {
      std::cout << "error unknown command" << std::endl;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "tiers") return edge::engine::bench::RunTierSweep(stdout);
#if defined(__x86_64__)
  if (mode == "gemm") return edge::engine::bench::RunGemmSweep(stdout);
  if (mode == "amx") return edge::engine::bench::RunAmxCrossover(stdout);
#else
  if (mode == "gemm" || mode == "amx") {
    std::fprintf(stderr, "edge_engine_bench %s: x86-64 only (it measures AVX-512/AMX peaks); use `tiers`\n", mode.c_str());
    return 2;
  }
#endif
  if (mode == "serve") return Serve();
  if (mode == "batchify" && argc == 4) {
    auto st = edge::testing::MakeBatchDynamicFile(argv[2], argv[3]);
    if (!st) std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return st ? 0 : 1;
  }
  std::fprintf(stderr, "usage: edge_engine_bench tiers | gemm | amx | serve | batchify IN.onnx OUT.onnx\n");
  return 2;
}
