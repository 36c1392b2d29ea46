// The engine's internal graph, after ONNX parsing, constant folding and QDQ fusion: every
// node is something a kernel executes, every value has a fixed shape and element type.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/engine/const_tensor.h"

namespace edge::engine {

struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;  // int8 domain: uint8 tensors are shifted by -128 at load
  bool operator==(const QParams& o) const { return scale == o.scale && zero_point == o.zero_point; }
  // DequantizeLinear of one int8 code: the one multiply of DequantizeScalar (the tables of the
  // int8 lookups are built from it).
  float Dequantize(int32_t code) const { return scale * static_cast<float>(code - zero_point); }
};

struct Value {
  std::string name;
  // Storage type: float activations are kF32, quantized int8 ones kI8 (with q); exact integer
  // tensors (Cast, integer inputs, uint8 arithmetic) any integer type or kBool. Never kF16/kF64.
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  int64_t elements = 0;
  QParams q;  // for kI8 activations: what the integers mean

  bool is_const = false;
  std::vector<float> cf;      // kF32 constant data
  std::vector<int32_t> ci;    // kI8 / kI32 constant data of quantized tensors
  std::vector<int64_t> cint;  // constant data of an exact integer tensor (any integer type)
  std::vector<float> cscale;  // per-channel scales of a quantized constant (weights, bias)

  int alias_of = -1;  // shares the storage of another value (reshape-like ops)
  int64_t alias_offset = 0;  // bytes into alias_of's storage where this value starts (a Concat input)
  int producer = -1;  // node index, -1 for graph inputs and constants
};

enum class OpKind {
  // float32
  kConv, kGemm, kMatMul, kAdd, kMul, kSub, kDiv, kMax, kMin, kUnary, kMaxPool, kAvgPool, kGlobalAvgPool,
  kSoftmax, kReduceMean, kChannelAffine, kQuantize, kDequantize,
  kPow,  // float Pow whose exponent is computed or differs by element (else kUnary kPow)
  // element-type generic data movement (float32 or int8)
  kTranspose, kConcat, kPad,
  kSlice,  // a strided box of in[0]: per axis the first index (Node::starts) and step (Node::steps)
  kResize,  // nearest-neighbour Resize / Upsample: per output index of each axis one input index (Node::resize)
  // Gather whose indices are computed (an embedding lookup): in[0] data, in[1] int32 or int64
  // indices, along Node::axis; per index the row of data's dimensions after the axis. An index
  // outside [-dim, dim) gives a row of zeros (the int8 zero point): a step cannot fail.
  kGatherRows,
  // float32
  kResizeLinear,  // linear Resize / Upsample: per output index of each axis two input indices and weights
  kConvTranspose,  // 1-D/2-D, window fields as Conv's; in[1] is [C_in, C_out / group, kh, kw]
  // LayerNormalization without its Mean and InvStdDev outputs, bias left to an Add: per row of
  // in[0]'s dimensions from Node::axis on, ((x - mean) * (1 / sqrt(var + Node::alpha))) *
  // in[1] (the normalized shape's scale), with the float operations of the unfused steps in
  // their order (each row's sums in element order), so the same values (which NaN comes out
  // where two NaNs meet may differ: the compiler may swap an add's operands)
  kLayerNormRows,
  // RNN, GRU or LSTM over a whole sequence (Node::recurrent): ops/recurrent.cpp
  kRecurrent,
  // int8
  kQConv, kQGemm, kQAdd, kQMul, kQLut, kQMaxPool, kQAvgPool, kQGlobalAvgPool, kQReduceMean,
  kQConcat, kRequant,
  kQMatMul,  // MatMul of two int8 activations (attention's Q.K^T and weights.V), batched
  // A float element-wise op or Softmax (Node::inner) between DequantizeLinear and
  // QuantizeLinear, folded into one step (fold.cpp): int8 inputs are read through their
  // parameters (Value::q), float ones as they are, and the result is quantized to out[0]'s.
  kQFloatOp,
  // exact integer tensors (Value::dtype an integer type or kBool). kAdd, kSub, kMul, kDiv, kMax,
  // kMin and kMaxPool also run on them, with the ONNX integer semantics (ops/typed_ops.cpp).
  kCast,             // element type conversion as ONNX Cast: in[0]'s type to out[0]'s
  kQuantizeTyped,    // QuantizeLinear: x (float), scale, zero point (either may be computed)
  kDequantizeTyped,  // DequantizeLinear: x (integer), scale, zero point (either may be computed)
};

// Pad: the border is a constant, the nearest edge element, or the mirror image without the edge.
enum class PadMode { kConstant, kEdge, kReflect };

enum class UnaryKind {
  kRelu, kClip, kSigmoid, kTanh, kLeakyRelu, kHardSigmoid, kHardSwish,
  kAbs, kNeg, kExp, kLog, kSqrt, kReciprocal, kFloor, kCeil, kRound, kSign, kErf, kSin, kCos,
  kElu, kSelu, kCelu, kSoftplus, kSoftsign, kThresholdedRelu, kMish, kGelu, kGeluTanh, kRoundToFloat16,
  kPow,  // x^alpha, a constant exponent (Pow with one exponent for every element)
  kAffine,  // x * alpha + beta (a BatchNormalization's per-channel affine, one channel's lookup)
};

// kReduceMean's reduction (one float step for the whole ONNX Reduce* family).
enum class ReduceKind { kMean, kSum, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// A kRecurrent node: an ONNX RNN, GRU or LSTM (lower_recurrent.cpp). Its inputs: X (float,
// [seq, batch, input], batch first with `batch_major`), then constants packed at load per
// direction d: W^T [d][input][G * hidden] and R^T [d][hidden][G * hidden] (G = 1, 3 or 4 gates in
// ONNX's order: RNN -, GRU z r h, LSTM i o f c), Wb and Rb [d][G * hidden] (zeros when absent);
// then the optional inputs at the positions below. Its outputs: Y, Y_h and (LSTM) Y_c, each a
// value even where the model leaves it unnamed.
struct RecurrentSpec {
  enum class Cell { kRnn, kGru, kLstm } cell = Cell::kRnn;
  struct Activation {
    UnaryKind kind = UnaryKind::kTanh;
    float alpha = 0.0f, beta = 0.0f;
  };
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, directions = 1;
  bool reverse = false;              // direction "reverse": one direction, the last time step first
  bool batch_major = false;          // layout 1: X [batch, seq, input], Y [batch, seq, dirs, hidden], states [batch, dirs, hidden]
  bool linear_before_reset = false;  // GRU: r * (H R_h^T + Rb_h) instead of (r * H) R_h^T + Rb_h
  bool input_forget = false;         // LSTM: the forget gate is 1 - the input gate
  float clip = std::numeric_limits<float>::infinity();  // each gate's input is clamped to [-clip, clip]
  std::vector<Activation> activations;  // per direction, the cell's f[, g[, h]]
  // positions in Node::in of initial_h and initial_c ([dirs, batch, hidden] or batch-major),
  // the LSTM peepholes P ([dirs][3 * hidden]: i, o, f) and sequence_lens (int32, [batch]); -1: absent
  int initial_h = -1, initial_c = -1, peepholes = -1, lengths = -1;
  int Gates() const { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4; }
};

struct Node {
  OpKind kind = OpKind::kUnary;
  std::string name;     // ONNX node name, for messages and the step summary
  std::string onnx_op;  // the ONNX op it came from
  std::vector<int> in;
  std::vector<int> out;
  bool dead = false;

  // Conv and pools, always 2-D (1-D ops get H = 1): {h, w}
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};
  int64_t pad[4] = {0, 0, 0, 0};  // top, left, bottom, right
  // A 3-D window's leading (depth) axis; float Conv only (3-D pools are lowered as 2-D then 1-D).
  int64_t depth_kernel = 1, depth_stride = 1, depth_dilation = 1, depth_pad[2] = {0, 0};
  int64_t group = 1;
  bool count_include_pad = false;

  // Gemm: C is folded into a per-output bias (broadcast [N] or full [M, N]).
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;  // also LeakyRelu alpha, HardSigmoid alpha/beta

  // Fused activation of float Conv/Gemm/MatMul and the clamp of unary ops.
  float act_min = -std::numeric_limits<float>::infinity();
  float act_max = std::numeric_limits<float>::infinity();
  UnaryKind unary = UnaryKind::kRelu;
  // kQLut of PRelu's slopes per channel (axis 1): alpha of channel c, one table each; empty:
  // one table (alpha) for every element.
  std::vector<float> channel_alpha;
  std::vector<float> channel_beta;  // kQLut per channel: each channel's beta (kAffine's add), if any
  OpKind inner = OpKind::kAdd;  // kQFloatOp: the float op it runs (kAdd..kMin, kPow, kUnary, kSoftmax)
  ReduceKind reduce = ReduceKind::kMean;
  // kSoftmax: Softmax, LogSoftmax (log of it, computed without the log of a rounded 0) or Hardmax.
  enum class Normalize { kSoftmax, kLogSoftmax, kHardmax } normalize = Normalize::kSoftmax;
  // kLayerNormRows without a scale input (InstanceNormalization): each row's mean and variance
  // summed in double, not in order in float (a plane of 65,536 floats lost ~1e-4 that way).
  bool double_stats = false;

  // int8 results clamp to [qmin, qmax]: saturation plus any folded Relu/Clip.
  int32_t qmin = -128, qmax = 127;
  std::vector<int32_t> bias_q;  // int8 conv/gemm: bias in the accumulator scale

  int64_t axis = 0;
  std::vector<int64_t> perm;
  std::vector<int64_t> axes;
  std::vector<int64_t> pads;  // Pad: ONNX layout (begin..., end...)
  std::vector<int64_t> starts, steps;  // kSlice: per axis of in[0], the first index taken and the step
  // kResize, kResizeLinear: per axis, for each output index, the input index read (lo) or -1
  // where the output is pad_value (tf_crop_and_resize outside its box); kResizeLinear also
  // reads hi, output = w_lo * x[lo] + w_hi * x[hi] along each axis.
  struct ResizeAxis {
    std::vector<int64_t> lo, hi;
    std::vector<float> w_lo, w_hi;
  };
  std::vector<ResizeAxis> resize;
  // kResize: `lo` holds input element offsets, not indices (an int8 ConvTranspose's interleave
  // of its phase conv's channels, an int8 Conv3d's depth windows, lower_conv_gemm.cpp; the
  // offsets are not a per-axis stride; -1: pad_value_int).
  bool resize_offsets = false;
  float pad_value = 0.0f;     // float Pad; int8 Pad pads with the input's zero point
  int64_t pad_value_int = 0;  // integer Pad: the exact value (a float holds integers up to 2^24 only)
  PadMode pad_mode = PadMode::kConstant;
  QParams quant;              // kQuantize output / kDequantize input params
  // kQuantizeTyped/kDequantizeTyped: scale and zero point have one element, or one per index
  // of `axis` (the axis is then normalized).

  // int8 Conv: the element-wise int8 nodes folded into its step (fold.cpp), applied in order to
  // its requantized output. epilogue[0].in[0] is the conv's own output value (no storage), each
  // next one's in[0] the previous one's output; an Add's other operand is in[1], also appended
  // to the conv's `in` so its lifetime covers the conv's step.
  std::vector<Node> epilogue;
  // kQMul of one input x (fold.cpp, FoldSelfGate): x times gate[0](x), the gate a lookup of x
  // (Swish/SiLU as x * Sigmoid(x)); a lookup itself then, one table for both ops.
  std::vector<Node> gate;
  std::shared_ptr<const RecurrentSpec> recurrent;  // kRecurrent
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;  // in execution order
  std::vector<int> inputs;
  std::vector<int> outputs;
  // The model's element type of each input / output (TensorInfo::dtype): the values above are
  // float32, converted at the graph's edges by kCast nodes where the type is an integer one.
  std::vector<DType> input_types, output_types;
  std::map<std::string, int> float_tensors;  // ONNX name -> float value (keep_all_tensors)

  int AddValue(Value v) {
    values.push_back(std::move(v));
    return static_cast<int>(values.size()) - 1;
  }
  // Follows alias_of to the value that owns the storage.
  int StorageOf(int v) const {
    while (values[v].alias_of >= 0) v = values[v].alias_of;
    return v;
  }
  // Where v starts in StorageOf(v)'s bytes.
  int64_t StorageOffset(int v) const {
    int64_t offset = 0;
    for (; values[v].alias_of >= 0; v = values[v].alias_of) offset += values[v].alias_offset;
    return offset;
  }
  // Whether a Concat passes input value x's bytes through unchanged: always for a float one;
  // for an int8 one where x's parameters are the output's (scale ratio exactly 1, the same zero
  // point: SaturateToInt8(x - zi) + zo == x) and the Concat clamps nothing.
  bool ConcatCopies(const Node& concat, int x) const {
    if (concat.kind == OpKind::kConcat) return true;
    const QParams& in = values[x].q;
    const QParams& out = values[concat.out[0]].q;
    return in.scale / out.scale == 1.0f && in.zero_point == out.zero_point && concat.qmin == -128 &&
           concat.qmax == 127;
  }
  // A Concat whose every input is one contiguous part of its output: every output dimension
  // before the axis is 1.
  bool ConcatPartsContiguous(const Node& concat) const {
    const std::vector<int64_t>& shape = values[concat.out[0]].shape;
    for (int64_t d = 0; d < concat.axis; ++d) {
      if (shape[static_cast<size_t>(d)] != 1) return false;
    }
    return true;
  }
};

}  // namespace edge::engine
