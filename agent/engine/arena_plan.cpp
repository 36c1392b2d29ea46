#include <algorithm>
#include <numeric>
#include <vector>

#include "agent/engine/compile.h"

namespace edge::engine {
namespace {

constexpr int64_t kAlign = 64;

int64_t SlotBytes(int64_t bytes) { return std::max<int64_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign); }

struct Buffer {
  int64_t bytes = 0;
  int first = 0, last = 0;  // step indices, inclusive
  int64_t offset = -1;
};

}  // namespace

ArenaPlan PlanArena(const Graph& g, const std::vector<int64_t>& scratch, bool keep_all) {
  const int steps = static_cast<int>(g.nodes.size());
  const int end = steps + 1;
  std::vector<Buffer> buffers(g.values.size() + g.nodes.size());
  std::vector<bool> used(buffers.size(), false);
  auto touch = [&](int storage, int step) {
    Buffer& b = buffers[storage];
    if (!used[storage]) {
      used[storage] = true;
      b.first = b.last = step;
    }
    b.first = std::min(b.first, step);
    b.last = std::max(b.last, step);
  };
  for (int v : g.inputs) touch(g.StorageOf(v), 0);
  for (int i = 0; i < steps; ++i) {
    const Node& n = g.nodes[i];
    if (n.dead) continue;
    for (int v : n.in) {
      if (!g.values[g.StorageOf(v)].is_const) touch(g.StorageOf(v), i + 1);
    }
    for (int v : n.out) touch(g.StorageOf(v), i + 1);
    if (scratch[i] > 0) {
      const size_t s = g.values.size() + i;
      used[s] = true;
      buffers[s].first = buffers[s].last = i + 1;
      buffers[s].bytes = scratch[i];
    }
  }
  for (int v : g.outputs) touch(g.StorageOf(v), end);
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (!used[v]) continue;
    buffers[v].bytes = g.values[v].elements * DTypeBytes(g.values[v].dtype);
    if (keep_all) {
      buffers[v].first = 0;
      buffers[v].last = end;
    }
  }
  // A lookup step may write its output where its input is, when the input dies at that step
  // (every tier's lookup kernel reads a block before it writes it; conv epilogues already run
  // lookups in place): the output's buffer may then take the input's offset although both
  // are live at that step. One partner each way, so a chain of lookup steps can share one
  // place. Without this a lookup chain's output (fold.cpp) could need a slot of its own.
  std::vector<int> share_prev(buffers.size(), -1), share_next(buffers.size(), -1);
  for (int i = 0; i < steps && !keep_all; ++i) {
    const Node& n = g.nodes[i];
    const int k = LookupInputOf(n, g);  // a lookup per channel too: one in-place call per channel's run
    if (k < 0) continue;
    // the storages (an alias's readers count in its storage's lifetime), whole: no part of a
    // larger buffer (a Concat's part) on either side
    const int vx = n.in[static_cast<size_t>(k)], vy = n.out[0], x = g.StorageOf(vx), y = g.StorageOf(vy);
    if (g.values[x].is_const || !used[x] || !used[y] || g.StorageOffset(vx) != 0 || g.StorageOffset(vy) != 0) continue;
    const Buffer &bx = buffers[x], &by = buffers[y];
    const int64_t bytes = g.values[vy].elements * DTypeBytes(g.values[vy].dtype);
    if (bx.bytes != bytes || by.bytes != bytes || bx.first == 0 || bx.last != i + 1 || by.first != i + 1) continue;
    share_prev[y] = x;
    share_next[x] = y;
  }
  std::vector<size_t> order;
  for (size_t b = 0; b < buffers.size(); ++b) {
    if (used[b]) order.push_back(b);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });
  std::vector<size_t> placed;
  int64_t total = 0;
  for (size_t b : order) {
    Buffer& buf = buffers[b];
    const int64_t size = SlotBytes(buf.bytes);
    // Conflicting placed buffers, by offset; take the first gap that fits.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t p : placed) {
      const Buffer& o = buffers[p];
      if (o.first <= buf.last && buf.first <= o.last) {
        busy.emplace_back(o.offset, o.offset + SlotBytes(o.bytes));
      }
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + size <= lo) break;
      offset = std::max(offset, hi);
    }
    // a lookup partner's place, if nothing else live with this buffer is there
    for (const int partner : {share_prev[b], share_next[b]}) {
      if (partner < 0 || buffers[partner].offset < 0) continue;
      const int64_t at = buffers[partner].offset;
      bool free = true;
      for (size_t p : placed) {
        const Buffer& o = buffers[p];
        const bool shares = (static_cast<int>(p) == share_prev[b] || static_cast<int>(p) == share_next[b]) && o.offset == at;
        if (!shares && o.first <= buf.last && buf.first <= o.last && o.offset < at + size && at < o.offset + SlotBytes(o.bytes)) {
          free = false;
          break;
        }
      }
      if (free) {
        offset = at;
        break;
      }
    }
    buf.offset = offset;
    total = std::max(total, offset + size);
    placed.push_back(b);
  }
  ArenaPlan plan;
  plan.offsets.assign(g.values.size(), -1);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const int s = g.StorageOf(static_cast<int>(v));
    if (used[s]) plan.offsets[v] = buffers[s].offset + g.StorageOffset(static_cast<int>(v));
  }
  plan.scratch_offsets.assign(g.nodes.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const size_t s = g.values.size() + i;
    if (used[s]) plan.scratch_offsets[i] = buffers[s].offset;
  }
  plan.total_bytes = total;
  return plan;
}

void PlaceConcatInputs(Graph& g) {
  // graph outputs and every value an output aliases (Compile reads an output's producer
  // through StorageOf)
  std::vector<int> outputs(g.values.size(), 0);
  for (int v : g.outputs) {
    for (int a = v; a >= 0; a = g.values[a].alias_of) ++outputs[a];
  }
  for (const Node& n : g.nodes) {
    if (n.dead || (n.kind != OpKind::kConcat && n.kind != OpKind::kQConcat) || !g.ConcatPartsContiguous(n)) continue;
    int64_t at = 0;
    for (size_t i = 0; i < n.in.size(); ++i) {
      const int v = n.in[i];
      Value& x = g.values[v];
      const int64_t bytes = x.elements * DTypeBytes(x.dtype);
      const bool produced = x.producer >= 0 && !g.nodes[static_cast<size_t>(x.producer)].dead;
      // an input given twice is placed once (then it is an alias) and copied to its second part
      if (g.ConcatCopies(n, v) && bytes > 0 && !x.is_const && produced && x.alias_of < 0 && outputs[v] == 0) {
        x.alias_of = n.out[0];
        x.alias_offset = at;
      }
      at += bytes;
    }
  }
}

}  // namespace edge::engine
