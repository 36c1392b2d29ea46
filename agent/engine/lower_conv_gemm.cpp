#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/lowerer.h"

namespace edge::engine::lowering {

namespace {
// The deepest int8 MatMul of two activations whose int32 sum cannot overflow: 255 * 255 * K
// must stay below 2^31.
constexpr int64_t kMaxExactMatMulDepth = 33025;
}  // namespace

Status Lowerer::LowerConv(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"}));
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing weights");
  const std::string& w_name = n.inputs[1];
  const std::string b_name = n.inputs.size() > 2 ? n.inputs[2] : "";
  EDGE_ASSIGN_OR_RETURN(auto w_shape, ShapeOfName(w_name));
  EDGE_ASSIGN_OR_RETURN(auto x_shape, ShapeOfName(n.inputs[0]));
  if (w_shape.size() < 3 || w_shape.size() > 5) return Fail(ErrorCode::kInvalidArgument, "weights must have rank 3, 4 or 5");
  const size_t spatial = w_shape.size() - 2;
  Node node = MakeNode(OpKind::kConv, n);
  std::vector<int64_t> kernel(w_shape.begin() + 2, w_shape.end());
  if (auto ks = n.Ints("kernel_shape"); !ks.empty() && ks != kernel) {
    return Fail(ErrorCode::kInvalidArgument, "kernel_shape does not match the weights");
  }
  std::vector<int64_t> out_shape;
  EDGE_TRY(ParseWindow(n, spatial, x_shape, kernel, node, out_shape, false));
  node.group = n.Int("group", 1);
  const int64_t cout = w_shape[0];
  if (node.group <= 0 || x_shape[1] != w_shape[1] * node.group || cout % node.group != 0) {
    return Fail(ErrorCode::kInvalidArgument, "channel counts do not match the group count");
  }
  out_shape[1] = cout;
  if (!b_name.empty()) {
    EDGE_ASSIGN_OR_RETURN(auto b_shape, ShapeOfName(b_name));
    if (b_shape != std::vector<int64_t>{cout}) {
      return Fail(ErrorCode::kInvalidArgument, "bias must have shape [C_out]");
    }
  }

  // int8: DQ(x) and DQ(w) with symmetric weights, closed by Q. (A 3-D window as a 2-D Conv
  // over its depth windows, EmitQuantConv3d; with groups it runs in float.)
  if (IsQuant(n.inputs[0]) && IsQConst(w_name)) {
    const QConst& wq = qconsts_.at(w_name);
    const bool symmetric = std::all_of(wq.zps.begin(), wq.zps.end(), [](int32_t z) { return z == 0; });
    const bool per_channel_ok = wq.axis == -1 || wq.axis == 0;
    const bool bias_const = b_name.empty() || IsConst(b_name) || IsQConst(b_name);
    if (symmetric && per_channel_ok && !wq.is_int32 && bias_const) {
      EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
      if (tail && spatial == 3 && node.group == 1) {
        return EmitQuantConv3d(n, std::move(node), *tail, x_shape, w_shape, out_shape, b_name);
      }
      if (tail && spatial < 3) {
        const int x = syms_.at(n.inputs[0]).value;
        const int64_t taps = w_shape.size() == 4 ? w_shape[2] * w_shape[3] : w_shape[2];
        Value w = QConvWeights(w_name, w_shape, g_.values[x].q.scale, b_name,
                               [&](int64_t co, int64_t ci, int64_t t) { return (co * w_shape[1] + ci) * taps + t; }, node);
        node.kind = OpKind::kQConv;
        node.in = {x, g_.AddValue(std::move(w))};
        EDGE_TRY(FinishQuant(*tail, out_shape, node));
        return Ok();
      }
    }
  }

  return EmitFloatWindowOp(n, std::move(node), b_name, out_shape);
}

Value Lowerer::QConvWeights(const std::string& w_name, const std::vector<int64_t>& shape, float sx,
                            const std::string& b_name,
                            const std::function<int64_t(int64_t co, int64_t ci, int64_t tap)>& source, Node& node) {
  const QConst& wq = qconsts_.at(w_name);
  const int64_t cout = shape[0], cin = shape[1];
  int64_t taps = 1;
  for (size_t d = 2; d < shape.size(); ++d) taps *= shape[d];
  Value w;
  w.name = w_name;
  w.dtype = DType::kI8;
  w.shape = shape;
  w.elements = cout * cin * taps;
  w.is_const = true;
  w.ci.resize(static_cast<size_t>(w.elements));
  for (int64_t co = 0; co < cout; ++co) {
    for (int64_t ci = 0; ci < cin; ++ci) {
      for (int64_t t = 0; t < taps; ++t) {
        w.ci[static_cast<size_t>((co * cin + ci) * taps + t)] = static_cast<int32_t>(wq.q.i[static_cast<size_t>(source(co, ci, t))]);
      }
    }
  }
  for (int64_t c = 0; c < cout; ++c) w.cscale.push_back(wq.scales[wq.axis == 0 ? c : 0]);
  node.bias_q.assign(static_cast<size_t>(cout), 0);
  if (!b_name.empty()) {
    auto bias = FloatConst(b_name);
    const QConst* bq = IsQConst(b_name) ? &qconsts_.at(b_name) : nullptr;
    for (int64_t c = 0; c < cout; ++c) node.bias_q[c] = AccumulatorBias(*bias, bq, c, sx * w.cscale[c]);
  }
  return w;
}

// x [N, C, D, H, W] gathered into [N, od x kd, C, H, W]: for output depth oz and depth tap kz
// the input plane iz = oz * sd - pf + kz * dd of every channel, the zero point where iz falls
// in the depth padding (one offset gather, rows of W copied). Seen as [N x od, kd x C, H, W],
// that is a 2-D Conv's input whose channel kz x C + c meets the weights' [co][c][kz] taps; its
// output [N x od, C_out, oh, ow] is transposed to [N, C_out, od, oh x ow]. The same integer sums
// as the 3-D window: the depth taps become input channels.
Status Lowerer::EmitQuantConv3d(const OnnxNode& n, Node node, const QuantTail& tail, const std::vector<int64_t>& x_shape,
                                const std::vector<int64_t>& w_shape, const std::vector<int64_t>& out_shape,
                                const std::string& b_name) {
  const int64_t batch = x_shape[0], cin = x_shape[1], depth = x_shape[2], ih = x_shape[3], iw = x_shape[4];
  const int64_t cout = w_shape[0], kd = node.depth_kernel, sd = node.depth_stride, dd = node.depth_dilation;
  const int64_t pf = node.depth_pad[0], od = out_shape[2], oh = out_shape[3], ow = out_shape[4];
  const int64_t kh = w_shape[3], kw = w_shape[4];
  const int x = syms_.at(n.inputs[0]).value;
  const QParams xq = g_.values[x].q;

  Node gather = MakeNode(OpKind::kResize, n);
  gather.resize_offsets = true;
  gather.pad_value_int = xq.zero_point;
  auto axis = [&](int64_t count, auto&& offset) {
    Node::ResizeAxis a;
    for (int64_t i = 0; i < count; ++i) a.lo.push_back(offset(i));
    gather.resize.push_back(std::move(a));
  };
  const int64_t plane = ih * iw;
  axis(batch, [&](int64_t b) { return b * cin * depth * plane; });
  axis(od * kd, [&](int64_t t) {
    const int64_t iz = (t / kd) * sd - pf + (t % kd) * dd;
    return iz < 0 || iz >= depth ? int64_t{-1} : iz * plane;
  });
  axis(cin, [&](int64_t c) { return c * depth * plane; });
  axis(ih, [&](int64_t y) { return y * iw; });
  axis(iw, [&](int64_t i) { return i; });
  gather.in = {x};
  EDGE_ASSIGN_OR_RETURN(int windows, NewValue(FreshName(n.outputs[0] + "_depth_windows"), DType::kI8,
                                              {batch, od * kd, cin, ih, iw}, xq));
  gather.out = {windows};
  AddNode(std::move(gather));
  Value as_2d = g_.values[windows];
  as_2d.name = FreshName(n.outputs[0] + "_depth_channels");
  as_2d.shape = {batch * od, kd * cin, ih, iw};
  as_2d.alias_of = windows;
  as_2d.producer = -1;
  const int conv_in = g_.AddValue(std::move(as_2d));

  node.kind = OpKind::kQConv;
  node.depth_kernel = node.depth_stride = node.depth_dilation = 1;
  node.depth_pad[0] = node.depth_pad[1] = 0;
  const int64_t taps = kd * kh * kw;
  Value w = QConvWeights(n.inputs[1], {cout, kd * cin, kh, kw}, xq.scale, b_name,
                         [&](int64_t co, int64_t ci, int64_t t) {
                           const int64_t kz = ci / cin, c = ci % cin;
                           return (co * cin + c) * taps + kz * kh * kw + t;
                         },
                         node);
  node.in = {conv_in, g_.AddValue(std::move(w))};
  QuantTail conv_tail = tail;
  conv_tail.out_name = FreshName(n.outputs[0] + "_depth_major");
  EDGE_ASSIGN_OR_RETURN(int conv_out, FinishQuant(conv_tail, {batch * od, cout, oh, ow}, node));

  Value rows = g_.values[conv_out];
  rows.name = FreshName(n.outputs[0] + "_depth_rows");
  rows.shape = {batch, od, cout, oh * ow};
  rows.alias_of = conv_out;
  rows.producer = -1;
  const int transpose_in = g_.AddValue(std::move(rows));
  Node transpose = MakeNode(OpKind::kTranspose, n);
  transpose.perm = {0, 2, 1, 3};
  transpose.in = {transpose_in};
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(tail.out_name, DType::kI8, out_shape, tail.q));
  transpose.out = {out};
  syms_[tail.out_name] = Sym{Sym::Kind::kInt8Raw, out, tail.u8};
  AddNode(std::move(transpose));
  return Ok();
}

// Float: weights and bias are constants, or tensors computed at run time (the float kernels
// read either). A constant gets a value of its own: a BatchNormalization may be folded into it.
Status Lowerer::EmitFloatWindowOp(const OnnxNode& n, Node node, const std::string& b_name,
                                  const std::vector<int64_t>& out_shape) {
  auto operand = [&](const std::string& name) -> Result<int> {
    if (auto c = FloatConst(name)) return ConstFloatValue(name, std::move(*c));
    return AsFloat(name);
  };
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(int w, operand(n.inputs[1]));
  std::vector<int> in = {x, w};
  if (!b_name.empty()) {
    EDGE_ASSIGN_OR_RETURN(int b, operand(b_name));
    in.push_back(b);
  }
  EDGE_TRY(AddFloatStep(std::move(node), std::move(in), n.outputs[0], out_shape));
  return Ok();
}

// ConvTranspose (1-D, 2-D): the output size from strides, dilations, pads and output_padding,
// or output_shape (pads then derived, as ONNX's spec splits them), or auto_pad SAME_* (the input
// size times the stride). Runs in float: DequantizeLinear'd weights are dequantized constants.
Status Lowerer::LowerConvTranspose(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads",
                          "strides"}));
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing weights");
  EDGE_ASSIGN_OR_RETURN(auto x_shape, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto w_shape, ShapeOfName(n.inputs[1]));
  if (w_shape.size() != 3 && w_shape.size() != 4) {
    return Fail(ErrorCode::kInvalidArgument, "only 1-D and 2-D ConvTranspose are supported (weights of rank 3 or 4)");
  }
  if (x_shape.size() != w_shape.size()) return Fail(ErrorCode::kInvalidArgument, "input rank does not match the weights");
  const size_t spatial = w_shape.size() - 2;
  const int64_t group = n.Int("group", 1);
  if (group <= 0 || x_shape[1] != w_shape[0] || x_shape[1] % group != 0) {
    return Fail(ErrorCode::kInvalidArgument, "channel counts do not match the weights and the group count");
  }
  const int64_t cout = w_shape[1] * group;
  std::vector<int64_t> kernel(w_shape.begin() + 2, w_shape.end());
  if (auto ks = n.Ints("kernel_shape"); !ks.empty() && ks != kernel) {
    return Fail(ErrorCode::kInvalidArgument, "kernel_shape does not match the weights");
  }
  EDGE_ASSIGN_OR_RETURN(auto strides, n.IntsOr("strides", 1, spatial));
  EDGE_ASSIGN_OR_RETURN(auto dilations, n.IntsOr("dilations", 1, spatial));
  EDGE_ASSIGN_OR_RETURN(auto out_pad, n.IntsOr("output_padding", 0, spatial));
  EDGE_ASSIGN_OR_RETURN(auto pads, n.IntsOr("pads", 0, 2 * spatial));
  std::vector<int64_t> wanted = n.Ints("output_shape");
  if (!wanted.empty() && wanted.size() != spatial) {
    // [N, C, spatial...] as some exporters write it: N and C must be the output's
    if (wanted.size() != spatial + 2 || wanted[0] != x_shape[0] || wanted[1] != cout) {
      return Fail(ErrorCode::kInvalidArgument, "output_shape must give the spatial sizes (or N, C_out and them)");
    }
    wanted.erase(wanted.begin(), wanted.begin() + 2);
  }
  const std::string auto_pad = n.Str("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
    return Fail(ErrorCode::kInvalidArgument, "unsupported auto_pad '" + auto_pad + "'");
  }
  std::vector<int64_t> out_shape = {x_shape[0], cout};
  for (size_t d = 0; d < spatial; ++d) {
    const int64_t in = x_shape[2 + d], k = kernel[d], s = strides[d], dil = dilations[d], op = out_pad[d];
    if (s <= 0 || dil <= 0 || k <= 0 || s > 4096 || dil > 4096) {
      return Fail(ErrorCode::kInvalidArgument, "strides, dilations and the kernel must be between 1 and 4096");
    }
    if (op < 0 || op >= std::max(s, dil)) {
      return Fail(ErrorCode::kInvalidArgument, "output_padding must be at least 0 and below the stride or the dilation");
    }
    if (pads[d] < 0 || pads[d + spatial] < 0) return Fail(ErrorCode::kInvalidArgument, "pads must be 0 or more");
    const int64_t full = s * (in - 1) + op + (k - 1) * dil + 1;  // the output with no padding
    if (!wanted.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      // The padding that gives the wanted size, split as ONNX's reference does (rounding
      // down). An output_shape larger than the full output extends its end only, as the
      // reference and ONNX Runtime place it.
      const int64_t size = !wanted.empty() ? wanted[d] : in * s;
      if (size <= 0 || size > full + 4096) return Fail(ErrorCode::kInvalidArgument, "output_shape out of range");
      const int64_t total = full - size;
      const int64_t half = FloorDiv(total, 2);
      const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
      pads[d] = !same && total < 0 ? 0 : auto_pad == "SAME_UPPER" ? half : total - half;
      pads[d + spatial] = total - pads[d];
    } else if (auto_pad == "VALID") {
      pads[d] = pads[d + spatial] = 0;
    }
    const int64_t size = full - pads[d] - pads[d + spatial];
    if (size <= 0) return Fail(ErrorCode::kInvalidArgument, "the output would be empty (pads too large)");
    out_shape.push_back(size);
  }
  EDGE_TRY(CheckedElementCount(out_shape).transform([](int64_t) {}));
  Node node = MakeNode(OpKind::kConvTranspose, n);
  node.group = group;
  // Internally 2-D: a 1-D one is 1 x L.
  node.kernel[0] = spatial == 2 ? kernel[0] : 1;
  node.kernel[1] = kernel.back();
  node.stride[0] = spatial == 2 ? strides[0] : 1;
  node.stride[1] = strides.back();
  node.dilation[0] = spatial == 2 ? dilations[0] : 1;
  node.dilation[1] = dilations.back();
  node.pad[0] = spatial == 2 ? pads[0] : 0;
  node.pad[1] = pads[spatial - 1];
  node.pad[2] = spatial == 2 ? pads[2] : 0;
  node.pad[3] = pads[2 * spatial - 1];
  const std::string b_name = n.inputs.size() > 2 ? n.inputs[2] : "";
  if (!b_name.empty()) {
    EDGE_ASSIGN_OR_RETURN(auto b_shape, ShapeOfName(b_name));
    if (b_shape != std::vector<int64_t>{cout}) return Fail(ErrorCode::kInvalidArgument, "bias must have shape [C_out]");
  }
  EDGE_ASSIGN_OR_RETURN(bool int8, TryQuantConvTranspose(n, node, x_shape, out_shape, b_name));
  if (int8) return Ok();
  return EmitFloatWindowOp(n, std::move(node), b_name, out_shape);
}

// int8 ConvTranspose: DQ(x) and DQ(w) with symmetric weights (per tensor or per output channel,
// axis 1), undilated, closed by Q. Along an axis of stride s and begin padding p, output index o
// (q = o + p) takes the taps k = q mod s + s t from input q div s - t: for each phase r = q mod s
// an ordinary stride-1 conv over the input whose taps are r, r + s, ... reversed (ceil(k / s) of
// them, the missing ones zero). One int8 Conv computes every phase as channels of its own
// (within each group, phase-major) with the ConvTranspose's requantization, and a gather puts
// phase r's index u at output s (u + u0) + r - p. The Conv's padding reads the input's zero point,
// so an output no input reaches is the bias, as ConvTranspose's. Returns false (nothing
// emitted) where this does not apply; the float form runs then.
Result<bool> Lowerer::TryQuantConvTranspose(const OnnxNode& n, const Node& ct, const std::vector<int64_t>& x_shape,
                                            const std::vector<int64_t>& out_shape, const std::string& b_name) {
  const std::string& w_name = n.inputs[1];
  if (!IsQuant(n.inputs[0]) || !IsQConst(w_name) || ct.dilation[0] != 1 || ct.dilation[1] != 1) return false;
  if (!b_name.empty() && !IsConst(b_name) && !IsQConst(b_name)) return false;
  const QConst& wq = qconsts_.at(w_name);
  const bool symmetric = std::all_of(wq.zps.begin(), wq.zps.end(), [](int32_t z) { return z == 0; });
  if (!symmetric || wq.is_int32 || (wq.axis != -1 && wq.axis != 1)) return false;
  const bool two_d = x_shape.size() == 4;
  const int64_t in_len[2] = {two_d ? x_shape[2] : 1, x_shape.back()};
  const int64_t out_len[2] = {two_d ? out_shape[2] : 1, out_shape.back()};
  // The begin pad p may be negative (SAME_* with a kernel shorter than the stride): the
  // phase of output o is (o + p) mod s and its index floor((o + p) / s) - u0, rounded down.
  struct Axis {
    int64_t taps, u0, pad_begin, pad_end, len;  // per phase; the first phase index; the Conv's
  } ax[2];
  for (int d = 0; d < 2; ++d) {
    const int64_t s = ct.stride[d], p = ct.pad[d];
    Axis& a = ax[d];
    a.taps = (ct.kernel[d] + s - 1) / s;
    a.u0 = FloorDiv(p, s);
    a.pad_begin = a.taps - 1 - a.u0;
    if (a.pad_begin < 0) return false;  // begin padding of a kernel's length or more
    const int64_t phase_len = FloorDiv(out_len[d] - 1 + p, s) - a.u0 + 1;
    a.pad_end = std::max<int64_t>(0, phase_len - in_len[d] - a.pad_begin + a.taps - 1);
    a.len = in_len[d] + a.pad_begin + a.pad_end - a.taps + 1;
  }
  // A stride past the kernel leaves phases without taps, whose channels the Conv still
  // computes (the bias): the int8 form where that at most quadruples the weights.
  const int64_t phase_taps = ct.stride[0] * ct.stride[1] * ax[0].taps * ax[1].taps;
  if (phase_taps > 4 * ct.kernel[0] * ct.kernel[1]) return false;
  EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
  if (!tail) return false;

  const int64_t sh = ct.stride[0], sw = ct.stride[1], kh = ct.kernel[0], kw = ct.kernel[1];
  const int64_t group = ct.group, cin_g = x_shape[1] / group, cout = out_shape[1], cout_g = cout / group;
  const int64_t th = ax[0].taps, tw = ax[1].taps, channels = group * sh * sw * cout_g;
  const int x = syms_.at(n.inputs[0]).value;
  const float sx = g_.values[x].q.scale;
  Value w;
  w.name = FreshName(w_name + "_phases");
  w.dtype = DType::kI8;
  w.shape = two_d ? std::vector<int64_t>{channels, cin_g, th, tw} : std::vector<int64_t>{channels, cin_g, tw};
  w.elements = channels * cin_g * th * tw;
  w.is_const = true;
  w.ci.assign(static_cast<size_t>(w.elements), 0);
  Node conv = MakeNode(OpKind::kQConv, n);
  conv.group = group;
  conv.kernel[0] = th;
  conv.kernel[1] = tw;
  conv.pad[0] = ax[0].pad_begin;
  conv.pad[1] = ax[1].pad_begin;
  conv.pad[2] = ax[0].pad_end;
  conv.pad[3] = ax[1].pad_end;
  conv.bias_q.assign(static_cast<size_t>(channels), 0);
  const auto bias = b_name.empty() ? std::nullopt : FloatConst(b_name);
  const QConst* bq = !b_name.empty() && IsQConst(b_name) ? &qconsts_.at(b_name) : nullptr;
  for (int64_t g = 0; g < group; ++g) {
    for (int64_t rh = 0; rh < sh; ++rh) {
      for (int64_t rw = 0; rw < sw; ++rw) {
        for (int64_t j = 0; j < cout_g; ++j) {
          const int64_t c = ((g * sh + rh) * sw + rw) * cout_g + j;
          w.cscale.push_back(wq.scales[wq.axis == 1 ? j : 0]);
          if (bias) conv.bias_q[c] = AccumulatorBias(*bias, bq, g * cout_g + j, sx * w.cscale.back());
          for (int64_t ci = 0; ci < cin_g; ++ci) {
            for (int64_t ty = 0; ty < th; ++ty) {
              const int64_t ky = rh + sh * (th - 1 - ty);
              for (int64_t tx = 0; tx < tw && ky < kh; ++tx) {
                const int64_t kx = rw + sw * (tw - 1 - tx);
                if (kx >= kw) continue;
                w.ci[static_cast<size_t>(((c * cin_g + ci) * th + ty) * tw + tx)] =
                    static_cast<int32_t>(wq.q.i[static_cast<size_t>((((g * cin_g + ci) * cout_g + j) * kh + ky) * kw + kx)]);
              }
            }
          }
        }
      }
    }
  }
  conv.in = {x, g_.AddValue(std::move(w))};
  std::vector<int64_t> conv_shape = {x_shape[0], channels};
  if (two_d) conv_shape.push_back(ax[0].len);
  conv_shape.push_back(ax[1].len);
  QuantTail phases_tail = *tail;
  phases_tail.out_name = FreshName(n.outputs[0] + "_phases");
  EDGE_ASSIGN_OR_RETURN(int phased, FinishQuant(phases_tail, conv_shape, conv));

  // The gather: element offsets into the Conv's output per output index of each axis.
  Node gather = MakeNode(OpKind::kResize, n);
  gather.resize_offsets = true;
  const int64_t plane = ax[0].len * ax[1].len;
  auto axis = [&](int64_t count, auto&& offset) {
    Node::ResizeAxis a;
    for (int64_t i = 0; i < count; ++i) a.lo.push_back(offset(i));
    gather.resize.push_back(std::move(a));
  };
  axis(out_shape[0], [&](int64_t b) { return b * channels * plane; });
  axis(cout, [&](int64_t co) { return ((co / cout_g) * sh * sw * cout_g + co % cout_g) * plane; });
  auto spatial = [&](int d, int64_t phase_stride, int64_t row_stride) {
    const int64_t s = ct.stride[d], p = ct.pad[d];
    axis(out_len[d], [&](int64_t o) {
      const int64_t u = FloorDiv(o + p, s);
      return (o + p - u * s) * phase_stride + (u - ax[d].u0) * row_stride;
    });
  };
  if (two_d) spatial(0, sw * cout_g * plane, ax[1].len);
  spatial(1, cout_g * plane, 1);
  gather.in = {phased};
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(tail->out_name, DType::kI8, out_shape, tail->q));
  gather.out = {out};
  syms_[tail->out_name] = Sym{Sym::Kind::kInt8Raw, out, tail->u8};
  AddNode(std::move(gather));
  return true;
}

Status Lowerer::LowerGemmLike(const OnnxNode& n) {
  const bool is_gemm = n.op_type == "Gemm";
  if (is_gemm) {
    // Gemm-6 has `broadcast` (C broadcasts when 1); from Gemm-7 on C always broadcasts.
    EDGE_TRY(onnx_.opset < 7 ? CheckAttrs(n, {"alpha", "beta", "transA", "transB", "broadcast"})
                             : CheckAttrs(n, {"alpha", "beta", "transA", "transB"}));
  } else {
    EDGE_TRY(CheckAttrs(n, {}));
  }
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing input");
  Node node = MakeNode(OpKind::kGemm, n);
  node.trans_a = is_gemm && n.Int("transA", 0) != 0;
  node.trans_b = is_gemm && n.Int("transB", 0) != 0;
  node.alpha = is_gemm ? n.Float("alpha", 1.0f) : 1.0f;
  node.beta = is_gemm ? n.Float("beta", 1.0f) : 1.0f;
  EDGE_ASSIGN_OR_RETURN(auto a_shape, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto b_shape, ShapeOfName(n.inputs[1]));
  const bool b_const = IsConst(n.inputs[1]) || IsQConst(n.inputs[1]);
  const std::string c_name = is_gemm && n.inputs.size() > 2 ? n.inputs[2] : "";

  if (!is_gemm && (!b_const || b_shape.size() != 2 || a_shape.size() < 2)) {
    // General batched float MatMul of two activations (or unusual ranks).
    if (a_shape.size() < 2 || b_shape.size() < 2) {
      return Fail(ErrorCode::kInvalidArgument, "MatMul operands must have rank >= 2");
    }
    std::vector<int64_t> ab(a_shape.begin(), a_shape.end() - 2), bb(b_shape.begin(), b_shape.end() - 2);
    EDGE_ASSIGN_OR_RETURN(auto batch, BroadcastShapes(ab, bb));
    if (a_shape.back() != b_shape[b_shape.size() - 2]) {
      return Fail(ErrorCode::kInvalidArgument, "MatMul inner dimensions differ");
    }
    batch.push_back(a_shape[a_shape.size() - 2]);
    batch.push_back(b_shape.back());
    // int8 when both operands are int8 activations and a QuantizeLinear closes it. The int32
    // sums are exact up to K = kMaxExactMatMulDepth (|a - za|, |b - zb| <= 255); deeper
    // products run in float.
    if (IsQuant(n.inputs[0]) && IsQuant(n.inputs[1]) && a_shape.back() <= kMaxExactMatMulDepth) {
      EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
      if (tail) {
        node.kind = OpKind::kQMatMul;
        node.in = {syms_.at(n.inputs[0]).value, syms_.at(n.inputs[1]).value};
        EDGE_TRY(FinishQuant(*tail, batch, node));
        return Ok();
      }
    }
    EDGE_ASSIGN_OR_RETURN(int a, AsFloat(n.inputs[0]));
    EDGE_ASSIGN_OR_RETURN(int b, AsFloat(n.inputs[1]));
    node.kind = OpKind::kMatMul;
    node.in = {a, b};
    EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, batch));
    node.out = {out};
    AddNode(std::move(node));
    SetFloat(n.outputs[0], out);
    return Ok();
  }
  if (is_gemm && (a_shape.size() != 2 || b_shape.size() != 2)) {
    return Fail(ErrorCode::kInvalidArgument, "Gemm operands must be 2-D");
  }
  if (is_gemm && onnx_.opset < 7 && n.Int("broadcast", 0) == 0 && !c_name.empty()) {
    EDGE_ASSIGN_OR_RETURN(auto c_shape, ShapeOfName(c_name));
    const std::vector<int64_t> mn = {node.trans_a ? a_shape[1] : a_shape[0], node.trans_b ? b_shape[0] : b_shape[1]};
    if (c_shape != mn) return Fail(ErrorCode::kInvalidArgument, "C must be [M, N] when broadcast is 0 (Gemm before opset 7)");
  }
  if (!b_const || (!c_name.empty() && !FloatConst(c_name))) return LowerGemmOfActivations(n, node);
  // Canonical weights: [N][K], one row per output channel.
  const int64_t k_dim = node.trans_b ? b_shape[1] : b_shape[0];
  const int64_t n_dim = node.trans_b ? b_shape[0] : b_shape[1];
  const int64_t a_k = node.trans_a ? a_shape[0] : a_shape.back();
  if (a_k != k_dim) return Fail(ErrorCode::kInvalidArgument, "inner dimensions differ");
  int64_t m_dim = 1;
  std::vector<int64_t> out_shape;
  if (node.trans_a) {
    m_dim = a_shape[1];
    out_shape = {m_dim, n_dim};
  } else {
    for (size_t d = 0; d + 1 < a_shape.size(); ++d) m_dim *= a_shape[d];
    out_shape.assign(a_shape.begin(), a_shape.end() - 1);
    out_shape.push_back(n_dim);
  }
  auto to_rows = [&](auto get) {  // returns [N][K] layout
    std::vector<decltype(get(0))> rows(static_cast<size_t>(n_dim * k_dim));
    for (int64_t r = 0; r < n_dim; ++r) {
      for (int64_t k = 0; k < k_dim; ++k) {
        rows[r * k_dim + k] = get(node.trans_b ? r * k_dim + k : k * n_dim + r);
      }
    }
    return rows;
  };
  // Bias per output: C must broadcast to [M, N]; it is expanded to [N] or [M, N].
  std::optional<ConstTensor> bias;
  if (!c_name.empty()) {
    bias = FloatConst(c_name);
    if (!bias) return Fail(ErrorCode::kInvalidArgument, "Gemm C must be constant");
    EDGE_ASSIGN_OR_RETURN(auto bs, BroadcastShapes(bias->shape, {m_dim, n_dim}));
    if (bs != std::vector<int64_t>{m_dim, n_dim}) {
      return Fail(ErrorCode::kInvalidArgument, "Gemm C does not broadcast to [M, N]");
    }
  }
  const bool per_row_bias = bias && bias->shape.size() == 2 && bias->shape[0] == m_dim && m_dim > 1;

  if (IsQuant(n.inputs[0]) && IsQConst(n.inputs[1]) && !node.trans_a && node.alpha == 1.0f &&
      (node.beta == 1.0f || !bias) && !per_row_bias) {
    const QConst& wq = qconsts_.at(n.inputs[1]);
    const int64_t channel_axis = node.trans_b ? 0 : 1;
    const bool symmetric = std::all_of(wq.zps.begin(), wq.zps.end(), [](int32_t z) { return z == 0; });
    EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
    if (tail && symmetric && !wq.is_int32 && (wq.axis == -1 || wq.axis == channel_axis)) {
      const int x = syms_.at(n.inputs[0]).value;
      const float sx = g_.values[x].q.scale;
      Value w;
      w.name = n.inputs[1];
      w.dtype = DType::kI8;
      w.shape = {n_dim, k_dim};
      w.elements = n_dim * k_dim;
      w.is_const = true;
      w.ci = to_rows([&](int64_t k) { return static_cast<int32_t>(wq.q.i[k]); });
      for (int64_t c = 0; c < n_dim; ++c) w.cscale.push_back(wq.scales[wq.axis >= 0 ? c : 0]);
      node.bias_q.assign(static_cast<size_t>(n_dim), 0);
      if (bias) {
        const QConst* bq = IsQConst(c_name) ? &qconsts_.at(c_name) : nullptr;
        for (int64_t c = 0; c < n_dim; ++c) {
          const float acc_scale = sx * w.cscale[c];
          const int64_t bi = bias->elements() == 1 ? 0 : c;
          node.bias_q[c] = AccumulatorBias(*bias, bq, bi, acc_scale);
        }
      }
      node.kind = OpKind::kQGemm;
      node.in = {x, g_.AddValue(std::move(w))};
      EDGE_TRY(FinishQuant(*tail, out_shape, node));
      return Ok();
    }
  }

  EDGE_ASSIGN_OR_RETURN(int a, AsFloat(n.inputs[0]));
  ConstTensor wf = *FloatConst(n.inputs[1]);
  ConstTensor rows;
  rows.dtype = DType::kF32;
  rows.shape = {n_dim, k_dim};
  rows.f = to_rows([&](int64_t k) { return wf.f[k] * node.alpha; });
  node.in = {a, ConstFloatValue(n.inputs[1], std::move(rows))};
  if (bias) {
    // Expand C to [N] (or [M, N] when it varies by row) with beta applied.
    ConstTensor c;
    c.dtype = DType::kF32;
    c.shape = per_row_bias ? std::vector<int64_t>{m_dim, n_dim} : std::vector<int64_t>{n_dim};
    const int64_t rows_c = per_row_bias ? m_dim : 1;
    for (int64_t r = 0; r < rows_c; ++r) {
      for (int64_t col = 0; col < n_dim; ++col) {
        const auto& s = bias->shape;
        int64_t idx = 0;
        if (s.size() == 2) {
          idx = (s[0] == 1 ? 0 : r) * s[1] + (s[1] == 1 ? 0 : col);
        } else if (s.size() == 1) {
          idx = s[0] == 1 ? 0 : col;
        }
        c.f.push_back(bias->f[idx] * node.beta);
      }
    }
    node.in.push_back(ConstFloatValue(c_name, std::move(c)));
  }
  node.trans_b = false;
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, out_shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

// Y = alpha * op(A) * op(B) + beta * C as separate float steps, for the rare Gemm whose B or C
// is computed rather than constant (the constant case folds all of it into one step).
Status Lowerer::LowerGemmOfActivations(const OnnxNode& n, const Node& attrs) {
  auto transposed = [&](const std::string& in, const std::string& tag) -> Result<int> {
    EDGE_ASSIGN_OR_RETURN(int v, AsFloat(in));
    const std::vector<int64_t> s = ShapeOf(v);
    Node t = MakeNode(OpKind::kTranspose, n);
    t.perm = {1, 0};
    return AddFloatStep(std::move(t), {v}, FreshName(n.name + tag), {s[1], s[0]});
  };
  EDGE_ASSIGN_OR_RETURN(int a, attrs.trans_a ? transposed(n.inputs[0], "#a_t") : AsFloat(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(int b, attrs.trans_b ? transposed(n.inputs[1], "#b_t") : AsFloat(n.inputs[1]));
  const std::vector<int64_t> sa = ShapeOf(a), sb = ShapeOf(b);
  if (sa[1] != sb[0]) return Fail(ErrorCode::kInvalidArgument, "inner dimensions differ");
  const std::vector<int64_t> out_shape = {sa[0], sb[1]};
  const bool has_c = n.inputs.size() > 2 && !n.inputs[2].empty();
  // v * factor as a new value `out` (factor != 1).
  auto scaled = [&](int v, float factor, const std::string& out) -> Result<int> {
    const int f = ConstFloatValue(out + "_factor", MakeFloatTensor({}, {factor}));
    return AddFloatStep(MakeNode(OpKind::kMul, n), {v, f}, out, ShapeOf(v));
  };
  const bool last = !has_c && attrs.alpha == 1.0f;
  EDGE_ASSIGN_OR_RETURN(int y, AddFloatStep(MakeNode(OpKind::kMatMul, n), {a, b}, last ? n.outputs[0] : FreshName(n.name + "#ab"), out_shape));
  if (attrs.alpha != 1.0f) {
    EDGE_ASSIGN_OR_RETURN(y, scaled(y, attrs.alpha, has_c ? FreshName(n.name + "#alpha_ab") : n.outputs[0]));
  }
  if (!has_c) return Ok();
  EDGE_ASSIGN_OR_RETURN(auto sc, ShapeOfName(n.inputs[2]));
  EDGE_ASSIGN_OR_RETURN(auto bs, BroadcastShapes(sc, out_shape));
  if (bs != out_shape) return Fail(ErrorCode::kInvalidArgument, "Gemm C does not broadcast to [M, N]");
  EDGE_ASSIGN_OR_RETURN(int c, AsFloat(n.inputs[2]));
  if (attrs.beta != 1.0f) {
    EDGE_ASSIGN_OR_RETURN(c, scaled(c, attrs.beta, FreshName(n.name + "#beta_c")));
  }
  EDGE_TRY(AddFloatStep(MakeNode(OpKind::kAdd, n), {y, c}, n.outputs[0], out_shape));
  return Ok();
}

}  // namespace edge::engine::lowering
