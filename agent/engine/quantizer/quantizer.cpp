// Quantization of an fp32 model (quantizer.h): calibration (calibration.cpp), the QDQ rewrite
// (qdq_rewriter.cpp), and what a model already holds.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <cstring>
#include <filesystem>

#include "agent/engine/quantizer/quantizer.h"
#include "agent/engine/quantizer/qdq_rewriter.h"
#include "common/core/fs.h"
#include "edge_onnx/onnx.pb.h"

namespace edge::engine {
namespace {

// Constant nodes become initializers so that weights behind them can be quantized too.
void ConstantsToInitializers(onnx::GraphProto& g) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (const auto& n : g.node()) {
    if (n.op_type() == "Constant" && n.output_size() == 1 && n.attribute_size() == 1 &&
        n.attribute(0).name() == "value") {
      onnx::TensorProto t = n.attribute(0).t();
      t.set_name(n.output(0));
      *g.add_initializer() = std::move(t);
    } else {
      *kept.Add() = n;
    }
  }
  g.mutable_node()->Swap(&kept);
}

bool IsQuantizationOp(const std::string& op) {
  static const std::set<std::string> kOps = {
      "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger",  "MatMulInteger",
      "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QGemm", "QAttention"};
  return kOps.count(op) != 0 || op.rfind("QLinear", 0) == 0;
}

// Subgraphs too: a QDQ body inside an If or a Loop is just as quantized.
void FindQuantization(const onnx::GraphProto& g, Quantization& q, std::set<std::string>& op_types) {
  for (const auto& n : g.node()) {
    if (IsQuantizationOp(n.op_type())) {
      if (q.nodes++ == 0) q.first_node = "'" + n.name() + "' (" + n.op_type() + ")";
      op_types.insert(n.op_type());
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g()) FindQuantization(a.g(), q, op_types);
      for (const auto& sub : a.graphs()) FindQuantization(sub, q, op_types);
    }
  }
}

std::optional<Quantization> QuantizationOfModel(const onnx::ModelProto& model) {
  Quantization q;
  std::set<std::string> op_types;
  FindQuantization(model.graph(), q, op_types);
  if (q.nodes == 0) return std::nullopt;
  for (const auto& op : op_types) q.op_types += (q.op_types.empty() ? "" : ", ") + op;
  return q;
}

// Checked before any work. --out is never empty or a directory, never one of the files the run
// reads (compared by filesystem identity, so "./d/../m.onnx", a symlink and a hard link count as
// that file), and an existing one (a dangling symlink too) only with --force.
Status CheckOutputPath(const std::string& in_path, const std::string& out_path, const QuantizeOptions& options) {
  namespace sfs = std::filesystem;
  std::error_code ec;
  if (sfs::is_directory(out_path, ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                "--out " + out_path + " is a directory; name a file to write (e.g. " +
                    (sfs::path(out_path) / "model.qdq.onnx").string() + ")");
  }
  const bool exists = sfs::exists(sfs::symlink_status(out_path, ec));
  const std::pair<const std::string*, const char*> inputs[] = {
      {&in_path, "the input model itself; refusing to overwrite the fp32 original"},
      {&options.calibration_path, "the --calibration data file"},
      {&options.eval_path, "the --eval data file"}};
  for (const auto& [path, what] : inputs) {
    std::error_code eq;
    if (exists && !path->empty() && sfs::equivalent(*path, out_path, eq)) {
      return Fail(ErrorCode::kAlreadyExists,
                  "--out " + out_path + " is " + what + " (" + *path + "), refused even with --force: choose another --out");
    }
  }
  if (exists && !options.force) {
    return Fail(ErrorCode::kAlreadyExists, "--out " + out_path + " already exists; pass --force to replace it");
  }
  return Ok();
}

Result<onnx::ModelProto> ReadOnnxProto(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot open " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return Fail(ErrorCode::kDataLoss, path + " is not a valid ONNX model");
  return model;
}

}  // namespace

Result<std::optional<Quantization>> QuantizationOf(const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(auto model, ReadOnnxProto(path));
  return QuantizationOfModel(model);
}

Status ValidateQuantizeOptions(const QuantizeOptions& options, const std::string& out_path) {
  // NaN compares false with everything and would silently turn a check off: checked first.
  // Each tail drops (100 - P)% of the values, so below 50 the tails would overlap.
  if (!(options.percentile >= 50.0 && options.percentile <= 100.0)) {
    return Fail(ErrorCode::kInvalidArgument, "--percentile " + std::to_string(options.percentile) +
                                                 " is not a number in [50, 100] (the share of values kept inside each range)");
  }
  if (options.min_snr_db && !std::isfinite(*options.min_snr_db)) {
    return Fail(ErrorCode::kInvalidArgument, "--min-snr must be a finite number of dB (0 turns the bar off)");
  }
  if (options.min_top1_percent && !std::isfinite(*options.min_top1_percent)) {
    return Fail(ErrorCode::kInvalidArgument, "--min-top1 must be a finite percentage in [0, 100]");
  }
  if (out_path.empty()) return Fail(ErrorCode::kInvalidArgument, "--out is empty: name the file to write");
  return Ok();
}

Result<QuantizeReport> QuantizeModel(const std::string& in_path, const NpyArray& calibration,
                                     const std::string& out_path, const QuantizeOptions& options) {
  EDGE_TRY(ValidateQuantizeOptions(options, out_path));
  EDGE_TRY(CheckOutputPath(in_path, out_path, options));
  EDGE_ASSIGN_OR_RETURN(auto model, ReadOnnxProto(in_path));
  if (auto q = QuantizationOfModel(model); q && !options.requantize) {
    return Fail(ErrorCode::kFailedPrecondition,
                "already quantized: " + std::to_string(q->nodes) + " quantization node(s) (" +
                    q->op_types + "), the first " + q->first_node +
                    "; quantizing it again rounds its values twice. Quantize the fp32 original, or pass "
                    "--requantize to do it anyway");
  }
  // The QDQ form written here (per-channel DequantizeLinear) exists from opset 13; raising an
  // older model's opset would change what some of its operators mean (Softmax, Squeeze, Clip).
  int64_t opset = 0;
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") opset = op.version();
  if (opset < 13) {
    return Fail(ErrorCode::kFailedPrecondition,
                in_path + " uses opset " + std::to_string(opset) +
                    "; the quantizer writes per-channel QDQ, which needs opset 13 or newer: export the model "
                    "again with opset 13 or newer (torch.onnx.export(..., opset_version=13))");
  }
  EDGE_ASSIGN_OR_RETURN(auto fp32, Model::LoadFile(in_path));
  if (fp32->inputs().size() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "the quantizer takes single-input models only; this one has " +
                                                 std::to_string(fp32->inputs().size()) + " inputs");
  }
  const TensorInfo& input = fp32->inputs()[0];
  EDGE_ASSIGN_OR_RETURN(SampleLayout layout,
                        ValidateSamples(input, calibration, "calibration data", !options.allow_outliers));
  // Quality is measured on samples the ranges never saw: --eval, or the calibration's tail.
  const NpyArray* ranges_from = &calibration;
  const NpyArray* held_out = options.eval;
  HoldOutSplit split;
  std::string source = "--eval data";
  if (held_out != nullptr) {
    EDGE_ASSIGN_OR_RETURN(SampleLayout eval_layout, ValidateSamples(input, *held_out, "eval data", false));
    const int64_t shared = SamplesAlsoIn(*held_out, calibration, layout.per_sample);
    if (shared == eval_layout.count) {
      return Fail(ErrorCode::kInvalidArgument,
                  "every --eval sample is also a calibration sample, so the report could not see what "
                  "quantization lost: give held-out samples, or leave out --eval to hold out part of the "
                  "calibration data");
    }
    if (shared > 0) source += " (" + std::to_string(shared) + " of them also calibration samples)";
  } else {
    EDGE_ASSIGN_OR_RETURN(split, SplitHeldOut(calibration, layout));
    ranges_from = &split.calibration;
    held_out = &split.held_out;
    source = "the last " + std::to_string(split.held_out.shape[0]) + " of " + std::to_string(layout.count) +
             " calibration samples (held out, not used for ranges)";
  }
  EDGE_ASSIGN_OR_RETURN(auto range_list, CalibrateRanges(in_path, *ranges_from, options));
  std::map<std::string, TensorRange> ranges(range_list.begin(), range_list.end());
  ConstantsToInitializers(*model.mutable_graph());
  EDGE_ASSIGN_OR_RETURN(QuantizeReport report, RewriteToQdq(model, ranges, options));
  report.samples = ranges_from->shape[0];
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return Fail(ErrorCode::kInternal, "cannot serialize the quantized model");
  EDGE_ASSIGN_OR_RETURN(auto int8, Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
  EDGE_ASSIGN_OR_RETURN(report.quality, MeasureQuality(fp32, int8, *held_out));
  report.quality.source = source;
  report.below_bar = MissedQualityBar(report.quality, options.min_snr_db, options.min_top1_percent);
  // A run that misses a bar writes nothing and removes nothing: an existing --out stays.
  if (!report.below_bar.empty()) return report;
  // A temp file beside the output moved into place: never a partial model at out_path. Without
  // --force the move refuses a file that appeared at out_path while this run was working.
  if (options.force) {
    EDGE_TRY(fs::WriteFileAtomic(out_path, bytes));
  } else if (auto st = fs::WriteFileNoReplace(out_path, bytes); !st) {
    if (st.error().code != ErrorCode::kAlreadyExists) return Fail(st.error());
    return Fail(ErrorCode::kAlreadyExists,
                "--out " + out_path + " appeared while quantizing; not replaced (pass --force to replace it)");
  }
  return report;
}

}  // namespace edge::engine
