#include "controller/edgectl/infer_cmd.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "agent/engine/npy_io.h"
#include "common/tls/grpc_tls.h"
#include "controller/edgectl/exit_codes.h"
#include "edge/v1/inference.grpc.pb.h"

namespace edge::edgectl {

namespace {

using inference::GRPCInferenceService;

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string Number(float v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

Result<Tensor> RandomInput(const inference::ModelMetadataResponse::TensorMetadata& meta, std::mt19937& rng) {
  Tensor t{meta.name(), {meta.shape().begin(), meta.shape().end()}, {}};
  int64_t elements = 1;
  for (size_t k = 0; k < t.shape.size(); ++k) {
    // A batch dimension (-1 first) gets one sample; any other variable dimension needs real data.
    if (k == 0 && t.shape[k] == -1) t.shape[k] = 1;
    if (t.shape[k] < 0) {
      return Fail(ErrorCode::kInvalidArgument, "input '" + meta.name() + "' has a variable dimension; give --input");
    }
    elements *= t.shape[k];
  }
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  t.values.resize(static_cast<size_t>(elements));
  for (float& v : t.values) v = uniform(rng);
  return t;
}

Result<std::vector<Tensor>> MakeInputs(const InferOptions& options, const inference::ModelMetadataResponse& meta) {
  std::vector<Tensor> inputs;
  if (options.random) {
    std::mt19937 rng(options.seed);
    for (const auto& m : meta.inputs()) {
      EDGE_ASSIGN_OR_RETURN(auto t, RandomInput(m, rng));
      inputs.push_back(std::move(t));
    }
    return inputs;
  }
  if (static_cast<int>(options.inputs.size()) != meta.inputs_size()) {
    return Fail(ErrorCode::kInvalidArgument, "model " + meta.name() + " has " + std::to_string(meta.inputs_size()) +
                                                 " input(s); give one --input per input, in order, or --random");
  }
  for (int i = 0; i < meta.inputs_size(); ++i) {
    EDGE_ASSIGN_OR_RETURN(auto array, engine::ReadNpy(options.inputs[static_cast<size_t>(i)]));
    inputs.push_back({meta.inputs(i).name(), std::move(array.shape), std::move(array.data)});
  }
  return inputs;
}

std::vector<Tensor> ReadOutputs(const inference::ModelInferResponse& response) {
  std::vector<Tensor> outputs;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& out = response.outputs(i);
    Tensor t{out.name(), {out.shape().begin(), out.shape().end()}, {}};
    if (i < response.raw_output_contents_size()) {
      const std::string& raw = response.raw_output_contents(i);
      t.values.resize(raw.size() / sizeof(float));
      std::memcpy(t.values.data(), raw.data(), t.values.size() * sizeof(float));
    } else {
      t.values.assign(out.contents().fp32_contents().begin(), out.contents().fp32_contents().end());
    }
    outputs.push_back(std::move(t));
  }
  return outputs;
}

bool IsVector(const std::vector<int64_t>& shape) {
  return shape.size() == 1 || (shape.size() == 2 && shape[0] == 1);
}

void PrintTableOutput(const inference::ModelInferResponse& response, const std::vector<Tensor>& outputs) {
  // Names come from the agent: WriteLine shows control characters instead of obeying them.
  WriteLine(std::cout, "model " + response.model_name() + ", version " + response.model_version());
  for (const Tensor& t : outputs) {
    std::cout << "\n";
    WriteLine(std::cout, "output " + t.name + " " + ShapeText(t.shape));
    if (IsVector(t.shape)) {
      std::vector<size_t> order(t.values.size());
      std::iota(order.begin(), order.end(), 0);
      const size_t k = std::min<size_t>(5, order.size());
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                        [&](size_t a, size_t b) { return t.values[a] > t.values[b]; });
      std::vector<std::vector<std::string>> rows;
      for (size_t r = 0; r < k; ++r) {
        rows.push_back({std::to_string(r + 1), std::to_string(order[r]), Number(t.values[order[r]])});
      }
      PrintTable({"RANK", "INDEX", "SCORE"}, rows);
    } else {
      const size_t shown = std::min<size_t>(16, t.values.size());
      for (size_t i = 0; i < shown; ++i) std::cout << (i ? " " : "") << Number(t.values[i]);
      if (shown < t.values.size()) std::cout << " ... (" << t.values.size() << " values)";
      std::cout << "\n";
    }
  }
}

void PrintJsonOutput(const inference::ModelInferResponse& response, const std::vector<Tensor>& outputs) {
  nlohmann::json out = {{"model", response.model_name()}, {"version", response.model_version()},
                        {"outputs", nlohmann::json::array()}};
  for (const Tensor& t : outputs) {
    out["outputs"].push_back({{"name", t.name}, {"datatype", "FP32"}, {"shape", t.shape}, {"data", t.values}});
  }
  PrintJson(out);
}

std::unique_ptr<grpc::ClientContext> Deadline(const InferOptions& options) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(options.timeout_seconds));
  return ctx;
}

// `--repeat N`: the same request N times on one connection, as traffic; a summary instead of
// the outputs. Failed calls are counted, not fatal: exit 1 if any failed.
int RunRepeated(GRPCInferenceService::Stub& stub, const InferOptions& options, const inference::ModelInferRequest& request,
                OutputFormat format) {
  std::vector<double> ms;
  uint32_t failed = 0;
  std::string first_error, version;
  for (uint32_t i = 0; i < options.repeat; ++i) {
    inference::ModelInferResponse response;
    const auto t0 = std::chrono::steady_clock::now();
    const grpc::Status s = stub.ModelInfer(Deadline(options).get(), request, &response);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (s.ok()) {
      version = response.model_version();
    } else {
      ++failed;
      if (first_error.empty()) first_error = TerminalSafe(s.error_message());
    }
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p / 100 * static_cast<double>(ms.size())))]; };
  if (format == OutputFormat::kJson) {
    PrintJson({{"model", options.model}, {"version", version}, {"requests", options.repeat}, {"failed", failed},
               {"p50_ms", pct(50)}, {"p99_ms", pct(99)}});
  } else {
    char line[256];
    std::snprintf(line, sizeof line, "%u requests to %s (version %s): %u failed; client p50 %.2f ms, p99 %.2f ms",
                  options.repeat, options.model.c_str(), version.empty() ? "-" : version.c_str(), failed, pct(50), pct(99));
    WriteLine(std::cout, line);
  }
  if (failed > 0) {
    WriteLine(std::cerr, "edgectl: infer: " + std::to_string(failed) + " of " + std::to_string(options.repeat) +
                             " requests failed; the first: " + first_error);
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

int RunInfer(const InferOptions& options, OutputFormat format) {
  const std::string target = options.address.empty() ? "unix:" + options.socket : options.address;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto stub = GRPCInferenceService::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));

  inference::ModelMetadataRequest meta_request;
  meta_request.set_name(options.model);
  meta_request.set_version(options.version);
  inference::ModelMetadataResponse meta;
  if (auto s = stub->ModelMetadata(Deadline(options).get(), meta_request, &meta); !s.ok()) {
    Error error = tls::FromGrpcStatus(s, "inference API at " + target);
    error.message = TerminalSafe(error.message);
    if (error.code == ErrorCode::kUnavailable) error.message += " (is edge-agent running? see --socket / --address)";
    return Report(error);
  }
  auto inputs = MakeInputs(options, meta);
  if (!inputs) {  // may name the agent's tensors
    Error error = inputs.error();
    error.message = TerminalSafe(error.message);
    return Report(error);
  }

  inference::ModelInferRequest request;
  request.set_model_name(options.model);
  // Only the version the operator asked for: pinning the one ModelMetadata named would turn a
  // swap between the two calls into NOT_FOUND. A new version with other input shapes would be
  // refused with INVALID_ARGUMENT instead, naming the shape.
  request.set_model_version(options.version);
  for (const Tensor& t : *inputs) {
    auto* in = request.add_inputs();
    in->set_name(t.name);
    in->set_datatype("FP32");
    for (int64_t d : t.shape) in->add_shape(d);
    request.add_raw_input_contents(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
  }
  if (options.repeat > 1) return RunRepeated(*stub, options, request, format);
  inference::ModelInferResponse response;
  if (auto s = stub->ModelInfer(Deadline(options).get(), request, &response); !s.ok()) {
    Error error = tls::FromGrpcStatus(s, "ModelInfer " + options.model);
    error.message = TerminalSafe(error.message);
    return Report(error);
  }
  const auto outputs = ReadOutputs(response);
  if (format == OutputFormat::kJson) {
    PrintJsonOutput(response, outputs);
  } else {
    PrintTableOutput(response, outputs);
  }
  return kExitOk;
}

void RegisterInferCommand(CLI::App& app, const std::string& output_format, int& exit_code) {
  auto options = std::make_shared<InferOptions>();
  auto* cmd = app.add_subcommand("infer", "run one inference on a device's local inference API (KServe v2)");
  cmd->add_option("model", options->model, "model name")->required();
  cmd->add_option("--version", options->version, "model version (default: the one serving)");
  auto* socket = cmd->add_option("--socket", options->socket, "agent's inference unix socket")->capture_default_str();
  cmd->add_option("--address", options->address, "loopback host:port instead of the socket")->excludes(socket);
  auto* input = cmd->add_option("--input,-i", options->inputs, "input .npy (float32), one per model input, in order")
                    ->check(CLI::ExistingFile);
  cmd->add_flag("--random", options->random, "uniform noise in [-1, 1) of each input's shape")->excludes(input);
  cmd->add_option("--seed", options->seed, "seed for --random")->capture_default_str();
  cmd->add_option("--repeat", options->repeat, "send the request this many times and print a summary (traffic)")
      ->check(CLI::Range(1u, 1000000u));
  cmd->add_option("--timeout", options->timeout_seconds, "deadline of each call in seconds")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([options, &output_format, &exit_code] {
    if (options->inputs.empty() && !options->random) {
      std::cerr << "edgectl: infer: give --input FILE for each model input, or --random\n";
      exit_code = kExitUsage;
      return;
    }
    exit_code = RunInfer(*options, output_format == "json" ? OutputFormat::kJson : OutputFormat::kTable);
  });
}

}  // namespace edge::edgectl
