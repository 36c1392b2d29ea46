// `model quantize`: the quantizer's command line, its report (text or --json) and exit codes.
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/engine/cli/model_commands.h"
#include "agent/engine/npy_io.h"
#include "agent/engine/quantizer/quantizer.h"
#include "common/core/exit_codes.h"

namespace edge::engine {
namespace {

// The flags bind straight into `options`; method and eval are resolved in RunQuantize.
// --calibration and --eval: one file per model input, in the model's input order.
struct QuantizeArgs {
  std::string in, out, method = "minmax";
  std::vector<std::string> calibration, eval;
  QuantizeOptions options;
  std::optional<double> min_snr;  // as given; unset: kDefaultMinSnrDb, 0: no SNR bar
  bool json = false;
};

void PrintText(const QuantizeArgs& a, const QuantizeReport& r) {
  std::printf("%s %s: %zu node(s) run in int8, %zu stay float\n", r.below_bar.empty() ? "wrote" : "did not write",
              a.out.c_str(), r.int8_nodes.size(), r.float_nodes.size());
  for (const auto& f : r.float_nodes) {
    std::printf("  float: '%s' (%s): %s\n", f.name.c_str(), f.op_type.c_str(), f.reason.c_str());
  }
  if (!r.saturated_biases.empty()) {
    std::printf("  %zu int32 bias value(s) saturated (clamped to the int32 range):\n", r.saturated_biases.size());
    for (const auto& b : r.saturated_biases) std::printf("    %s\n", b.c_str());
  }
  std::printf("ranges from %lld calibration samples (%s); quality on %lld samples from %s:\n",
              static_cast<long long>(r.samples), a.method.c_str(), static_cast<long long>(r.quality.samples),
              r.quality.source.c_str());
  for (const auto& o : r.quality.outputs) {
    std::printf("  output '%s':", o.name.c_str());
    if (o.classification) std::printf(" top-1 agreement %.2f%%,", 100.0 * o.top1_agreement);
    std::printf(" cosine %.6f, SNR %.1f dB, max abs error %.4g (fp32 peak %.4g)\n", o.cosine, o.snr_db,
                o.max_abs_error, o.max_abs_fp32);
  }
}

// JSON has no infinity: an exact output's SNR is null.
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

void PrintJson(const QuantizeArgs& a, const QuantizeReport& r) {
  nlohmann::json j;
  j["out"] = a.out;
  j["written"] = r.below_bar.empty();
  j["below_bar"] = r.below_bar;
  j["quantized_nodes"] = r.int8_nodes.size();
  j["calibration_samples"] = r.samples;
  j["float_nodes"] = nlohmann::json::array();
  for (const auto& f : r.float_nodes) j["float_nodes"].push_back({{"name", f.name}, {"op_type", f.op_type}, {"reason", f.reason}});
  j["saturated_biases"] = r.saturated_biases;
  j["quality"] = {{"samples", r.quality.samples}, {"source", r.quality.source}, {"outputs", nlohmann::json::array()}};
  for (const auto& o : r.quality.outputs) {
    nlohmann::json out = {{"name", o.name},           {"cosine", Number(o.cosine)},
                          {"snr_db", Number(o.snr_db)}, {"max_abs_error", Number(o.max_abs_error)},
                          {"max_abs_fp32", Number(o.max_abs_fp32)}};
    if (o.classification) out["top1_agreement"] = o.top1_agreement;
    j["quality"]["outputs"].push_back(std::move(out));
  }
  std::printf("%s\n", j.dump(2).c_str());
}

// Reads every file into `arrays` (which the result points into), in order, naming the files.
Result<ModelSamples> ReadSamples(const std::vector<std::string>& paths, std::vector<NpyArray>& arrays) {
  arrays.clear();
  for (const auto& path : paths) {
    EDGE_ASSIGN_OR_RETURN(NpyArray array, ReadNpy(path));
    arrays.push_back(std::move(array));
  }
  ModelSamples samples;
  for (const auto& array : arrays) samples.inputs.push_back(&array);
  samples.files = paths;
  return samples;
}

void PrintJsonError(const QuantizeArgs& a, const std::string& message) {
  const nlohmann::json j = {{"out", a.out}, {"written", false}, {"error", message}};
  std::printf("%s\n", j.dump(2).c_str());
}

int RunQuantize(const QuantizeArgs& a) {
  QuantizeOptions options = a.options;
  // Usage errors first (exit 2): a NaN compares false with everything and would turn a check off.
  auto usage = [&a](const std::string& text) {
    std::fprintf(stderr, "error: %s\n", text.c_str());
    if (a.json) PrintJsonError(a, text);
    return kExitUsage;
  };
  options.min_snr_db = !a.min_snr ? std::optional<double>(kDefaultMinSnrDb)
                                  : (*a.min_snr == 0.0 ? std::nullopt : std::optional<double>(*a.min_snr));
  if (auto valid = ValidateQuantizeOptions(options, a.out); !valid) return usage(valid.error().message);
  // One file: the single-input form, whose messages name no file.
  if (a.calibration.size() == 1) options.calibration_path = a.calibration[0];
  if (a.eval.size() == 1) options.eval_path = a.eval[0];
  options.method = a.method == "percentile" ? CalibrationMethod::kPercentile : CalibrationMethod::kMinMax;
  auto fail = [&a](const Error& e) {
    std::fprintf(stderr, "error: quantizing %s: %s\n", a.in.c_str(), e.message.c_str());
    // --json readers get an object on stdout for a refusal too, not an empty stream.
    if (a.json) PrintJsonError(a, e.message);
    return kExitError;
  };
  std::vector<NpyArray> calibration_arrays, eval_arrays;
  auto calibration = ReadSamples(a.calibration, calibration_arrays);
  if (!calibration) return fail(calibration.error());
  auto eval = ReadSamples(a.eval, eval_arrays);
  if (!eval) return fail(eval.error());
  options.eval = std::move(*eval);
  auto report = QuantizeModel(a.in, *calibration, a.out, options);
  if (!report) return fail(report.error());
  if (a.json) {
    PrintJson(a, *report);
  } else {
    PrintText(a, *report);
  }
  if (!report->below_bar.empty()) {
    std::fprintf(stderr, "error: quantizing %s: quality below the bar: %s; nothing written to %s%s\n", a.in.c_str(),
                 report->below_bar.c_str(), a.out.c_str(),
                 a.min_snr ? "" : " (20 dB is the default --min-snr; --min-snr 0 turns it off)");
    return kExitQualityBelowBar;
  }
  return kExitOk;
}

}  // namespace

void RegisterQuantizeCommand(CLI::App& model, int& exit_code) {
  auto q = std::make_shared<QuantizeArgs>();
  auto* cmd = model.add_subcommand("quantize", "Post-training int8 quantization to a QDQ ONNX model, with a quality report");
  cmd->add_option("model", q->in, "fp32 ONNX model")->required()->check(CLI::ExistingFile);
  // One value per flag: `--calibration a.npy b.npy` would also take a model path written after it.
  cmd->add_option("--calibration", q->calibration,
                  "calibration inputs: .npy float32 [N, <input shape without its batch 1>] (or [N, <input shape>]); "
                  "a model with several inputs takes one --calibration per input, in the model's input order "
                  "(model inspect lists them), all with the same N (an integer input's file holds whole numbers)")
      ->required()->allow_extra_args(false)->check(CLI::ExistingFile);
  cmd->add_option("--out", q->out, "output QDQ ONNX model (never the input; an existing file only with --force)")->required();
  cmd->add_option("--eval", q->eval,
                  "held-out inputs for the quality report, same layout as --calibration, one per input in the same "
                  "order (default: hold out the last max(10, 20%) calibration samples)")
      ->allow_extra_args(false)->check(CLI::ExistingFile);
  cmd->add_option("--method", q->method, "calibration: minmax or percentile")->check(CLI::IsMember({"minmax", "percentile"}));
  cmd->add_option("--percentile", q->options.percentile, "percentile kept by --method percentile, in [50, 100] (default 99.99)");
  cmd->add_option("--min-snr", q->min_snr,
                  "fail (exit 3, nothing written) if any output's held-out SNR is below DB (default 20; 0: no bar)");
  cmd->add_option("--min-top1", q->options.min_top1_percent,
                  "fail (exit 3, nothing written) if a classifier output's held-out top-1 agreement is below PCT")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_flag("--force", q->options.force, "replace an existing --out file");
  cmd->add_flag("--allow-outliers", q->options.allow_outliers,
                "calibrate on samples whose peak is far beyond the others instead of refusing them");
  cmd->add_flag("--quantize-outputs", q->options.quantize_outputs,
                "also quantize the graph outputs (clips them to the calibration range)");
  cmd->add_option("--keep-float", q->options.keep_float,
                  "node names or op types to leave in float, comma-separated (e.g. Div,Pow: an int8 form that "
                  "costs more accuracy than the model can give)")
      ->delimiter(',');
  cmd->add_flag("--requantize", q->options.requantize,
                "quantize a model that already has quantization nodes (QDQ, QLinear*, ...) instead of refusing it");
  cmd->add_flag("--json", q->json, "print the report as JSON");
  cmd->callback([q, &exit_code] { exit_code = RunQuantize(*q); });
}

}  // namespace edge::engine
