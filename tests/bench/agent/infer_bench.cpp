// edge-infer-bench: the timing half of tests/bench/agent/run_bench.sh. Every mode prints one
// result line of `key=value` pairs on stdout (times in microseconds) for the script to tabulate.
//
//   direct  --model FILE --runs N
//       p50/p99 of engine::ExecutionContext::Run in this process (kernel tier auto, as the agent).
//   socket  --socket PATH --model-name NAME --runs N [--threads T]
//       p50/p99 of ModelInfer on the agent's unix socket, raw_input_contents, one channel per
//       thread, N calls per thread; counts failures and the versions that answered.
//   compare --model FILE --socket PATH --model-name NAME [--rounds R] [--per-round K]
//       direct and socket alternating in R blocks of K runs on the same input, so the overhead
//       ratio comes from one run under the same machine load; also checks both give the same
//       output.
//   load    --socket PATH --model-name NAME --threads T --rate Q --until-file F [--warmup S]
//       open-loop load of Q requests/s per thread until F exists; F then holds the swap windows
//       ("START_NS END_NS" per line, CLOCK_REALTIME ns). Requests that start inside a window are
//       "swap", the others "steady"; p50/p99 of each and the failures.
//
// The input is uniform noise in [-1, 1) from a fixed seed, the same bytes in every run and mode.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "agent/engine/engine.h"
#include "edge/v1/inference.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using inference::GRPCInferenceService;

constexpr uint32_t kInputSeed = 7;

double Percentile(std::vector<double> us, double p) {
  if (us.empty()) return 0.0;
  std::sort(us.begin(), us.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(us.size())));
  return us[std::clamp<size_t>(rank, 1, us.size()) - 1];
}

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

std::vector<float> NoiseInput(int64_t elements) {
  std::mt19937 rng(kInputSeed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(elements));
  for (float& x : v) x = uniform(rng);
  return v;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "edge-infer-bench: %s\n", what.c_str());
  std::exit(1);
}

// ---- direct: the engine in this process ----

class DirectRunner {
 public:
  explicit DirectRunner(const std::string& path) {
    auto model = edge::engine::Model::LoadFile(path);
    if (!model) Die("cannot load " + path + ": " + model.error().message);
    model_ = *model;
    if (model_->inputs().size() != 1 || model_->outputs().size() != 1)
      Die(path + ": the benchmark handles models with one input and one output");
    ctx_ = std::make_unique<edge::engine::ExecutionContext>(model_);
    input_ = NoiseInput(model_->inputs()[0].elements);
    output_.resize(static_cast<size_t>(model_->outputs()[0].elements));
    for (int i = 0; i < 10; ++i) RunOnce();  // warm the arena and the caches
  }

  double RunOnce() {
    const float* x = input_.data();
    float* y = output_.data();
    const auto start = Clock::now();
    if (!ctx_->Run({&x, 1}, {&y, 1})) Die("engine run failed");
    return MicrosSince(start);
  }

  int64_t input_elements() const { return model_->inputs()[0].elements; }
  const std::vector<float>& output() const { return output_; }

 private:
  std::shared_ptr<const edge::engine::Model> model_;
  std::unique_ptr<edge::engine::ExecutionContext> ctx_;
  std::vector<float> input_, output_;
};

// ---- socket: ModelInfer on the agent ----

class SocketClient {
 public:
  SocketClient(const std::string& socket, const std::string& model_name) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    // Each client its own connection, as separate applications would have.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stub_ = GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args));
    inference::ModelMetadataRequest meta_request;
    meta_request.set_name(model_name);
    inference::ModelMetadataResponse meta;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (auto s = stub_->ModelMetadata(&ctx, meta_request, &meta); !s.ok())
      Die("ModelMetadata " + model_name + " on " + socket + ": " + s.error_message());
    if (meta.inputs_size() != 1) Die(model_name + ": the benchmark handles models with one input");
    int64_t elements = 1;
    request_.set_model_name(model_name);
    auto* in = request_.add_inputs();
    in->set_name(meta.inputs(0).name());
    in->set_datatype("FP32");
    for (int64_t d : meta.inputs(0).shape()) {
      if (d == -1) d = 1;  // a batch-dynamic model: one sample per call
      in->add_shape(d);
      elements *= d;
    }
    elements_ = elements;
    const auto x = NoiseInput(elements);
    request_.add_raw_input_contents(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
  }

  // One call; false on any failure (the status is kept in last_error()).
  bool Infer() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    response_.Clear();
    const grpc::Status s = stub_->ModelInfer(&ctx, request_, &response_);
    if (!s.ok()) last_error_ = std::to_string(s.error_code()) + " " + s.error_message();
    return s.ok();
  }

  int64_t input_elements() const { return elements_; }
  const inference::ModelInferResponse& response() const { return response_; }
  const std::string& last_error() const { return last_error_; }

 private:
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
  inference::ModelInferRequest request_;
  inference::ModelInferResponse response_;
  int64_t elements_ = 0;
  std::string last_error_;
};

std::string VersionsText(const std::map<std::string, uint64_t>& versions) {
  std::string out;
  for (const auto& [v, n] : versions) out += (out.empty() ? "" : ",") + v + ":" + std::to_string(n);
  return out.empty() ? "-" : out;
}

void PrintLatency(const char* prefix, const std::vector<double>& us) {
  std::printf(" %s_n=%zu %s_p50_us=%.1f %s_p99_us=%.1f", prefix, us.size(), prefix, Percentile(us, 50), prefix,
              Percentile(us, 99));
}

int RunDirect(const std::string& model, int runs) {
  DirectRunner runner(model);
  std::vector<double> us;
  for (int i = 0; i < runs; ++i) us.push_back(runner.RunOnce());
  std::printf("direct");
  PrintLatency("direct", us);
  std::printf("\n");
  return 0;
}

int RunSocket(const std::string& socket, const std::string& name, int runs, int threads) {
  std::mutex mu;
  std::vector<double> us;
  std::map<std::string, uint64_t> versions;
  uint64_t failures = 0;
  std::string first_error;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      SocketClient client(socket, name);
      for (int i = 0; i < 10; ++i) client.Infer();  // connect, warm
      std::vector<double> mine;
      std::map<std::string, uint64_t> seen;
      uint64_t failed = 0;
      for (int i = 0; i < runs; ++i) {
        const auto start = Clock::now();
        const bool ok = client.Infer();
        mine.push_back(MicrosSince(start));
        if (ok) ++seen[client.response().model_version()];
        else ++failed;
      }
      std::lock_guard lock(mu);
      us.insert(us.end(), mine.begin(), mine.end());
      for (const auto& [v, n] : seen) versions[v] += n;
      failures += failed;
      if (failed && first_error.empty()) first_error = client.last_error();
    });
  }
  for (auto& w : workers) w.join();
  std::printf("socket threads=%d", threads);
  PrintLatency("socket", us);
  std::printf(" failures=%llu versions=%s\n", static_cast<unsigned long long>(failures), VersionsText(versions).c_str());
  if (!first_error.empty()) std::fprintf(stderr, "first failure: %s\n", first_error.c_str());
  return 0;
}

int RunCompare(const std::string& model, const std::string& socket, const std::string& name, int rounds,
               int per_round) {
  DirectRunner direct(model);
  SocketClient client(socket, name);
  if (client.input_elements() != direct.input_elements())
    Die("the served model " + name + " takes " + std::to_string(client.input_elements()) + " inputs, " + model +
        " takes " + std::to_string(direct.input_elements()));
  for (int i = 0; i < 10; ++i) client.Infer();
  // Same model, same input: the answers must agree (bit for bit: same engine, same tier).
  if (!client.Infer()) Die("ModelInfer " + name + ": " + client.last_error());
  const std::string& raw = client.response().raw_output_contents(0);
  std::vector<float> served(raw.size() / sizeof(float));
  std::memcpy(served.data(), raw.data(), served.size() * sizeof(float));
  double max_diff = served.size() == direct.output().size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < served.size() && i < direct.output().size(); ++i)
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(served[i] - direct.output()[i])));

  std::vector<double> d, s;
  uint64_t failures = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < per_round; ++i) d.push_back(direct.RunOnce());
    for (int i = 0; i < per_round; ++i) {
      const auto start = Clock::now();
      if (!client.Infer()) ++failures;
      s.push_back(MicrosSince(start));
    }
  }
  std::printf("compare");
  PrintLatency("direct", d);
  PrintLatency("socket", s);
  std::printf(" failures=%llu max_abs_diff=%g\n", static_cast<unsigned long long>(failures), max_diff);
  return 0;
}

struct Sample {
  int64_t start_ns;  // CLOCK_REALTIME, to match the script's `date +%s%N`
  double us;
  bool ok;
};

int64_t RealtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SteadyNs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int RunLoad(const std::string& socket, const std::string& name, int threads, double rate, const std::string& until,
            double warmup_s, const std::string& samples_out) {
  std::mutex mu;
  std::vector<Sample> samples;
  std::map<std::string, uint64_t> versions;
  std::string first_error;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  // Samples are timed on the steady clock and stamped in CLOCK_REALTIME through one offset.
  const int64_t realtime_offset_ns = RealtimeNs() - SteadyNs(Clock::now());
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      SocketClient client(socket, name);
      for (int i = 0; i < 10; ++i) client.Infer();
      std::vector<Sample> mine;
      std::map<std::string, uint64_t> seen;
      // Open loop: request i is due at start + i * period, whatever happened to earlier ones.
      // A request the previous one held up counts from when it was due, so a stall shows in
      // every request it delays (no coordinated omission); one sent on time counts from when
      // it was sent, so this thread's own wake-up delay is not charged to the agent. Threads
      // are offset so they do not fire together.
      auto due = Clock::now() + period * t / threads;
      auto previous_end = Clock::time_point{};
      while (!stop.load(std::memory_order_relaxed)) {
        std::this_thread::sleep_until(due);
        const auto sent = Clock::now();
        const auto from = previous_end > due ? due : sent;
        const bool ok = client.Infer();
        previous_end = Clock::now();
        mine.push_back({SteadyNs(from) + realtime_offset_ns, MicrosSince(from), ok});
        if (ok) ++seen[client.response().model_version()];
        due += period;
      }
      std::lock_guard lock(mu);
      samples.insert(samples.end(), mine.begin(), mine.end());
      for (const auto& [v, n] : seen) versions[v] += n;
      if (first_error.empty()) first_error = client.last_error();
    });
  }
  const int64_t started_ns = RealtimeNs();
  while (!std::filesystem::exists(until)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop = true;
  for (auto& w : workers) w.join();

  std::vector<std::pair<int64_t, int64_t>> windows;
  std::ifstream in(until);
  for (int64_t a, b; in >> a >> b;) windows.emplace_back(a, b);
  const int64_t warm_end = started_ns + static_cast<int64_t>(warmup_s * 1e9);
  std::vector<double> steady, swap;
  uint64_t steady_failed = 0, swap_failed = 0;
  for (const Sample& x : samples) {
    if (x.start_ns < warm_end) continue;
    const bool in_swap = std::any_of(windows.begin(), windows.end(),
                                     [&](const auto& w) { return x.start_ns >= w.first && x.start_ns <= w.second; });
    (in_swap ? swap : steady).push_back(x.us);
    if (!x.ok) ++(in_swap ? swap_failed : steady_failed);
  }
  if (!samples_out.empty()) {
    std::ofstream out(samples_out);
    for (const Sample& x : samples) out << x.start_ns << ' ' << x.us << ' ' << (x.ok ? 1 : 0) << '\n';
  }
  std::printf("load threads=%d rate=%g windows=%zu", threads, rate, windows.size());
  PrintLatency("steady", steady);
  PrintLatency("swap", swap);
  std::printf(" steady_max_us=%.1f swap_max_us=%.1f steady_failures=%llu swap_failures=%llu versions=%s\n",
              steady.empty() ? 0.0 : *std::max_element(steady.begin(), steady.end()),
              swap.empty() ? 0.0 : *std::max_element(swap.begin(), swap.end()),
              static_cast<unsigned long long>(steady_failed), static_cast<unsigned long long>(swap_failed),
              VersionsText(versions).c_str());
  if (!first_error.empty()) std::fprintf(stderr, "first failure: %s\n", first_error.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge-infer-bench: agent inference latency, direct engine against the unix socket"};
  app.require_subcommand(1);
  std::string model, socket, name, until, samples_out;
  int runs = 2000, threads = 1, rounds = 20, per_round = 100;
  double rate = 200, warmup = 1.0;

  auto* direct = app.add_subcommand("direct", "engine Run() in this process");
  direct->add_option("--model", model, "ONNX model file")->required()->check(CLI::ExistingFile);
  direct->add_option("--runs", runs)->capture_default_str();

  auto* sock = app.add_subcommand("socket", "ModelInfer on the agent's unix socket");
  sock->add_option("--socket", socket)->required();
  sock->add_option("--model-name", name)->required();
  sock->add_option("--runs", runs, "calls per thread")->capture_default_str();
  sock->add_option("--threads", threads)->capture_default_str()->check(CLI::Range(1, 64));

  auto* compare = app.add_subcommand("compare", "direct and socket alternating, same input");
  compare->add_option("--model", model, "the ONNX file the agent serves as --model-name")->required()->check(CLI::ExistingFile);
  compare->add_option("--socket", socket)->required();
  compare->add_option("--model-name", name)->required();
  compare->add_option("--rounds", rounds)->capture_default_str()->check(CLI::PositiveNumber);
  compare->add_option("--per-round", per_round)->capture_default_str()->check(CLI::PositiveNumber);

  auto* load = app.add_subcommand("load", "open-loop load until a file appears; swap windows against steady");
  load->add_option("--socket", socket)->required();
  load->add_option("--model-name", name)->required();
  load->add_option("--threads", threads)->capture_default_str()->check(CLI::Range(1, 64));
  load->add_option("--rate", rate, "requests/s per thread")->capture_default_str()->check(CLI::PositiveNumber);
  load->add_option("--until-file", until, "stop when it exists; it holds the swap windows")->required();
  load->add_option("--warmup", warmup, "seconds at the start left out of both classes")->capture_default_str();
  load->add_option("--samples-out", samples_out, "write every sample: START_NS LATENCY_US OK");

  CLI11_PARSE(app, argc, argv);
  if (direct->parsed()) return RunDirect(model, runs);
  if (sock->parsed()) return RunSocket(socket, name, runs, threads);
  if (compare->parsed()) return RunCompare(model, socket, name, rounds, per_round);
  return RunLoad(socket, name, threads, rate, until, warmup, samples_out);
}
