#include "agent/engine/shape_rules.h"

#include <algorithm>

namespace edge::engine {

Result<std::vector<int64_t>> BroadcastShapes(const std::vector<int64_t>& a,
                                             const std::vector<int64_t>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t k = 0; k < rank; ++k) {
    const int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    const int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  "shapes cannot broadcast (" + std::to_string(da) + " vs " + std::to_string(db) + ")");
    }
    out[k] = da == 1 ? db : da;
  }
  return out;
}

Result<int64_t> WindowOutput(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                             int64_t pad_begin, int64_t pad_end, bool ceil_mode) {
  if (kernel <= 0 || stride <= 0 || dilation <= 0 || pad_begin < 0 || pad_end < 0 ||
      kernel > 4096 || stride > 4096 || dilation > 4096 || pad_begin > 4096 || pad_end > 4096) {
    return Fail(ErrorCode::kInvalidArgument, "invalid kernel, stride, dilation or pad");
  }
  const int64_t span = dilation * (kernel - 1) + 1;
  const int64_t avail = in + pad_begin + pad_end - span;
  if (avail < 0) return Fail(ErrorCode::kInvalidArgument, "window larger than padded input");
  int64_t out = (ceil_mode ? (avail + stride - 1) / stride : avail / stride) + 1;
  // ceil_mode must not start a window entirely in the end padding
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

Result<int64_t> NormalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    return Fail(ErrorCode::kInvalidArgument,
                "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  }
  return axis < 0 ? axis + rank : axis;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace edge::engine
