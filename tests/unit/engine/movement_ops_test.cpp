// DepthToSpace, SpaceToDepth, Expand and Gather of a computed tensor: data movement on float,
// int8 (between QuantizeLinear and DequantizeLinear, at every tier) and int32 tensors, against
// ONNX's own examples and index formulas computed here element by element, and the refusals.
// Gather with run-time indices (an embedding lookup): tables float, int8 and integer, computed
// data, an index out of range at run time.
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/op_forms.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

using Catch::Matchers::Contains;
using TP = onnx::TensorProto;

// Runs `b` for every form at every tier an int8 model covers (float and int32 at auto), checks
// the step is `op` in the form's type (`kind` after it, e.g. ", index tables") unless `no_step`,
// the output shape, and the values against `want`.
void CheckForms(const std::function<Builder(Form)>& build, const std::string& op, const std::vector<float>& x,
                const std::vector<int64_t>& out_shape, const std::vector<float>& want, const std::string& kind = "",
                bool no_step = false) {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  for (Form form : {Form::kFloat, Form::kInt8, Form::kInt32}) {
    INFO(FormName(form));
    auto model = LoadOk(build(form));
    REQUIRE(model->outputs()[0].shape == out_shape);
    const std::string step = StepOf(*model, op);
    INFO("step: " << step);
    if (no_step) {
      CHECK(step.empty());
    } else {
      CHECK_THAT(step, Catch::EndsWith(std::string("(") + FormName(form) + kind + ")"));
    }
    if (form != Form::kInt8) {
      CHECK(RunOne(model, x) == want);
      continue;
    }
    for (KernelTier tier : tiers) {
      INFO("tier " << KernelTierName(tier));
      CHECK(RunAll(model, {x}, tier)[0] == want);
    }
  }
}

// ---------------------------------------------------------------- DepthToSpace, SpaceToDepth

// y[n, c, h * b + i, w * b + j] of DepthToSpace, read from x's channel as ONNX's spec numbers
// them (DCR: depth, then column, then row of the block; CRD: row, then column, then depth).
std::vector<float> DepthToSpaceOf(const std::vector<float>& x, const std::vector<int64_t>& s, int64_t b, bool dcr) {
  const int64_t n = s[0], c = s[1], h = s[2], w = s[3], depth = c / (b * b);
  std::vector<float> y;
  for (int64_t in = 0; in < n; ++in) {
    for (int64_t oc = 0; oc < depth; ++oc) {
      for (int64_t oy = 0; oy < h * b; ++oy) {
        for (int64_t ox = 0; ox < w * b; ++ox) {
          const int64_t i = oy % b, j = ox % b;
          const int64_t ch = dcr ? (i * b + j) * depth + oc : (oc * b + i) * b + j;
          y.push_back(x[static_cast<size_t>(((in * c + ch) * h + oy / b) * w + ox / b)]);
        }
      }
    }
  }
  return y;
}

// y[n, (i * b + j) * C + c, h, w] = x[n, c, h * b + i, w * b + j].
std::vector<float> SpaceToDepthOf(const std::vector<float>& x, const std::vector<int64_t>& s, int64_t b) {
  const int64_t n = s[0], c = s[1], h = s[2] / b, w = s[3] / b;
  std::vector<float> y;
  for (int64_t in = 0; in < n; ++in) {
    for (int64_t oc = 0; oc < c * b * b; ++oc) {
      const int64_t ch = oc % c, i = oc / c / b, j = oc / c % b;
      for (int64_t oy = 0; oy < h; ++oy) {
        for (int64_t ox = 0; ox < w; ++ox) {
          y.push_back(x[static_cast<size_t>(((in * c + ch) * s[2] + oy * b + i) * s[3] + ox * b + j)]);
        }
      }
    }
  }
  return y;
}

Builder DepthSpace(Form form, const std::string& op, const std::vector<int64_t>& shape, int64_t b,
                   const std::string& mode, int64_t opset = 13) {
  Builder m = Around(form, op, shape, {}, 1, opset);
  for (auto& node : *m.proto().mutable_graph()->mutable_node()) {
    if (node.op_type() != op) continue;
    IntAttr(&node, "blocksize", b);
    if (!mode.empty()) StrAttr(&node, "mode", mode);
  }
  return m;
}

std::vector<float> Ramp(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i);
  return x;
}

}  // namespace

TEST_CASE("DepthToSpace matches ONNX's examples of DCR and CRD", "[engine][operators]") {
  // ONNX Operators.md, DepthToSpace: x = arange(48) as [1, 8, 2, 3], blocksize 2.
  const std::vector<float> dcr = {0,  12, 1,  13, 2,  14, 24, 36, 25, 37, 26, 38, 3,  15, 4,  16,
                                  5,  17, 27, 39, 28, 40, 29, 41, 6,  18, 7,  19, 8,  20, 30, 42,
                                  31, 43, 32, 44, 9,  21, 10, 22, 11, 23, 33, 45, 34, 46, 35, 47};
  const std::vector<float> crd = {0,  6,  1,  7,  2,  8,  12, 18, 13, 19, 14, 20, 3,  9,  4,  10,
                                  5,  11, 15, 21, 16, 22, 17, 23, 24, 30, 25, 31, 26, 32, 36, 42,
                                  37, 43, 38, 44, 27, 33, 28, 34, 29, 35, 39, 45, 40, 46, 41, 47};
  const auto x = Ramp(48);
  CHECK(DepthToSpaceOf(x, {1, 8, 2, 3}, 2, true) == dcr);  // the test's own formula agrees with the spec
  CHECK(DepthToSpaceOf(x, {1, 8, 2, 3}, 2, false) == crd);
  CHECK(RunOne(LoadOk(DepthSpace(Form::kFloat, "DepthToSpace", {1, 8, 2, 3}, 2, "DCR")), x) == dcr);
  CHECK(RunOne(LoadOk(DepthSpace(Form::kFloat, "DepthToSpace", {1, 8, 2, 3}, 2, "")), x) == dcr);  // the default
  CHECK(RunOne(LoadOk(DepthSpace(Form::kFloat, "DepthToSpace", {1, 8, 2, 3}, 2, "CRD")), x) == crd);
  // Before opset 11 there is no mode: DCR.
  CHECK(RunOne(LoadOk(DepthSpace(Form::kFloat, "DepthToSpace", {1, 8, 2, 3}, 2, "", 9)), x) == dcr);
  CHECK_THAT(LoadError(DepthSpace(Form::kFloat, "DepthToSpace", {1, 8, 2, 3}, 2, "CRD", 9)),
             Contains("(DepthToSpace)") && Contains("unsupported attribute 'mode'"));
}

TEST_CASE("DepthToSpace and SpaceToDepth move every element on float int8 and int32 at every tier",
          "[engine][operators][tiers]") {
  struct Case {
    std::vector<int64_t> shape;
    int64_t b;
  };
  // PixelShuffle(3) of an ESPCN head, blocks of 2 over several batches, blocksize 1 (nothing moves)
  for (const Case& c : std::vector<Case>{{{1, 9, 20, 40}, 3}, {{2, 8, 5, 6}, 2}, {{1, 3, 4, 4}, 1}}) {
    const auto x = WholeRamp(Elements(c.shape));
    for (const char* mode : {"DCR", "CRD"}) {
      INFO("DepthToSpace " << mode << " b " << c.b << " of " << c.shape[1] << " x " << c.shape[2] << " x "
                           << c.shape[3]);
      const std::vector<int64_t> out = {c.shape[0], c.shape[1] / (c.b * c.b), c.shape[2] * c.b, c.shape[3] * c.b};
      CheckForms([&](Form f) { return DepthSpace(f, "DepthToSpace", c.shape, c.b, mode); }, "DepthToSpace", x, out,
                 DepthToSpaceOf(x, c.shape, c.b, std::string(mode) == "DCR"), "", c.b == 1);
    }
  }
  for (const Case& c : std::vector<Case>{{{1, 1, 60, 120}, 3}, {{2, 3, 10, 12}, 2}}) {
    INFO("SpaceToDepth b " << c.b << " of " << c.shape[1] << " x " << c.shape[2] << " x " << c.shape[3]);
    const auto x = WholeRamp(Elements(c.shape));
    const std::vector<int64_t> out = {c.shape[0], c.shape[1] * c.b * c.b, c.shape[2] / c.b, c.shape[3] / c.b};
    CheckForms([&](Form f) { return DepthSpace(f, "SpaceToDepth", c.shape, c.b, ""); }, "SpaceToDepth", x, out,
               SpaceToDepthOf(x, c.shape, c.b));
  }
}

TEST_CASE("DepthToSpace and SpaceToDepth refuse bad blocks and modes naming the node", "[engine][operators]") {
  struct Case {
    const char* op;
    std::vector<int64_t> shape;
    int64_t b;  // 0: no blocksize attribute
    const char* mode;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"DepthToSpace", {1, 8, 2, 2}, 2, "DRC", "mode must be DCR or CRD, not 'DRC'"},
      {"DepthToSpace", {1, 8, 2, 2}, 0, "", "blocksize is required"},
      {"DepthToSpace", {1, 8, 2, 2}, -2, "", "blocksize must be 1 or more"},
      {"DepthToSpace", {1, 6, 2, 2}, 2, "", "channels are not a multiple of blocksize x blocksize (2 x 2)"},
      {"DepthToSpace", {1, 2, 2, 2}, 4, "", "channels are not a multiple"},
      {"DepthToSpace", {1, 2, 2, 2}, int64_t{1} << 40, "", "channels are not a multiple"},  // b * b would overflow
      {"DepthToSpace", {8, 2, 2}, 2, "", "input must be 4-D"},
      {"SpaceToDepth", {1, 2, 6, 5}, 2, "", "must be multiples of blocksize 2"},
      {"SpaceToDepth", {1, 2, 6, 6}, 0, "", "blocksize is required"},
      {"SpaceToDepth", {1, 2, 6, 6}, 3, "DCR", "unsupported attribute 'mode'"},
  };
  for (const Case& c : cases) {
    INFO(c.op << ": " << c.error);
    Builder b = Around(Form::kFloat, c.op, c.shape, {}, 1);
    auto* node = b.proto().mutable_graph()->mutable_node(0);
    if (c.b != 0) IntAttr(node, "blocksize", c.b);
    if (*c.mode != '\0') StrAttr(node, "mode", c.mode);
    CHECK_THAT(LoadError(b), Contains(std::string("(") + c.op + ")") && Contains(c.error));
  }
}

// ---------------------------------------------------------------- Expand

namespace {

// x of `shape` broadcast to `out` (numpy rules, leading axes added), element by element.
std::vector<float> Broadcast(const std::vector<float>& x, const std::vector<int64_t>& shape,
                             const std::vector<int64_t>& out) {
  const size_t lead = out.size() - shape.size();
  std::vector<float> y;
  std::vector<int64_t> idx(out.size(), 0);
  for (int64_t k = 0; k < Elements(out); ++k) {
    int64_t src = 0;
    for (size_t d = lead; d < out.size(); ++d) src = src * shape[d - lead] + (shape[d - lead] == 1 ? 0 : idx[d]);
    y.push_back(x[static_cast<size_t>(src)]);
    for (size_t d = out.size(); d-- > 0;) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

Builder ExpandOf(Form form, const std::vector<int64_t>& shape, const std::vector<int64_t>& to) {
  Builder b = Around(form, "Expand", shape, {"shape"}, 1);
  b.InitInts("shape", {static_cast<int64_t>(to.size())}, to, TP::INT64);
  return b;
}

}  // namespace

TEST_CASE("Expand broadcasts both ways on float int8 and int32 at every tier", "[engine][operators][tiers]") {
  struct Case {
    const char* what;
    std::vector<int64_t> shape, to, out;
  };
  const std::vector<Case> cases = {
      {"a norm per row to the row (F.normalize)", {3, 1}, {3, 40}, {3, 40}},
      {"leading axes added", {5}, {2, 4, 5}, {2, 4, 5}},
      {"1s in shape keep the input's axes", {2, 1, 3}, {1, 4, 1}, {2, 4, 3}},
      {"a shape shorter than the input", {2, 1, 3}, {4, 3}, {2, 4, 3}},
      {"per channel to a map", {1, 3, 1, 1}, {2, 3, 4, 5}, {2, 3, 4, 5}},
      {"every axis broadcast", {1, 1}, {3, 17}, {3, 17}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const auto x = WholeRamp(Elements(c.shape));
    CheckForms([&](Form f) { return ExpandOf(f, c.shape, c.to); }, "Expand", x, c.out, Broadcast(x, c.shape, c.out),
               ", index tables");
  }
  SECTION("nothing to broadcast: the input itself, no step") {
    const auto x = WholeRamp(6);
    CheckForms([&](Form f) { return ExpandOf(f, {2, 3}, {1, 3}); }, "Expand", x, {2, 3}, x, "", true);
  }
}

TEST_CASE("Expand of an integer constant folds at load", "[engine][operators]") {
  // y = x + Cast(Expand([3, 1] constant, [3, 2])): the shape arithmetic's kind of Expand
  Builder b(13);
  b.Input("x", {3, 2}).Output("y");
  b.InitInts("c", {3, 1}, {1, -2, 7}, TP::INT64).InitInts("shape", {2}, {3, 2}, TP::INT64);
  b.Node("Expand", {"c", "shape"}, {"e"});
  IntAttr(b.Node("Cast", {"e"}, {"ef"}), "to", TP::FLOAT);
  b.Node("Add", {"x", "ef"}, {"y"});
  auto model = LoadOk(b);
  CHECK(StepOf(*model, "Expand").empty());
  CHECK(RunOne(model, {0, 10, 20, 30, 40, 50}) == std::vector<float>{1, 11, 18, 28, 47, 57});
}

TEST_CASE("the movement ops refuse attributes of the wrong kind, twice given, and extra outputs", "[engine][operators]") {
  const auto error_of = [](const char* op, std::vector<int64_t> shape, const auto& edit) {
    Builder b = Around(Form::kFloat, op, shape, {}, 1);
    auto* node = b.proto().mutable_graph()->mutable_node(0);
    IntAttr(node, "blocksize", 2);
    edit(node);
    return LoadError(b);
  };
  // mode as an integer would have read as the default DCR; a second blocksize would have been
  // ignored; an output the op does not have
  CHECK_THAT(error_of("DepthToSpace", {1, 8, 2, 2}, [](auto* n) { IntAttr(n, "mode", 1); }),
             Contains("(DepthToSpace)") && Contains("attribute 'mode' is an integer; ONNX defines it as a string"));
  CHECK_THAT(error_of("SpaceToDepth", {1, 2, 4, 4}, [](auto* n) { IntAttr(n, "blocksize", 4); }),
             Contains("(SpaceToDepth)") && Contains("attribute 'blocksize' is given twice"));
  CHECK_THAT(error_of("DepthToSpace", {1, 8, 2, 2}, [](auto* n) { n->add_output("extra"); }),
             Contains("(DepthToSpace)") && Contains("one input and gives one output"));
}

TEST_CASE("Expand refuses shapes that do not broadcast or are not constant and names the node", "[engine][operators]") {
  CHECK_THAT(LoadError(ExpandOf(Form::kFloat, {3, 2}, {3, 4})),
             Contains("(Expand)") && Contains("cannot broadcast (2 vs 4)"));
  CHECK_THAT(LoadError(ExpandOf(Form::kFloat, {3, 1}, {3, -1})),
             Contains("(Expand)") && Contains("negative dimension -1"));
  CHECK_THAT(LoadError(ExpandOf(Form::kFloat, {3, 1}, {3, 0})), Contains("(Expand)") && Contains("would be empty"));
  CHECK_THAT(LoadError(ExpandOf(Form::kFloat, {1}, {1, 1, 1, 1, 1, 1, 2})), Contains("(Expand)") && Contains("rank 7"));
  {
    Builder b = Around(Form::kFloat, "Expand", {3, 1}, {"shape"}, 1);
    b.InitInts("shape", {2}, {3, 4}, TP::INT32);
    CHECK_THAT(LoadError(b), Contains("(Expand)") && Contains("1-D int64"));
  }
  {
    Builder b = Around(Form::kFloat, "Expand", {3, 1}, {"shape"}, 1);
    b.Input("shape", {2}, TP::INT64);
    CHECK_THAT(LoadError(b), Contains("(Expand)") && Contains("must be a constant"));
  }
  // Past the index tables' bound on an axis: refused, not allocated.
  CHECK_THAT(LoadError(ExpandOf(Form::kFloat, {1}, {int64_t{1} << 23})),
             Contains("(Expand)") && Contains("index tables"));
}

// ---------------------------------------------------------------- Gather

namespace {

// Gather along `axis` as ONNX defines it: out[a..., i..., b...] = x[a..., idx[i...], b...],
// negative indices from the end.
std::vector<float> GatherOf(const std::vector<float>& x, const std::vector<int64_t>& shape, int64_t axis,
                            const std::vector<int64_t>& indices) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t extent = shape[static_cast<size_t>(axis)];
  std::vector<float> y;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i : indices) {
      const int64_t at = i < 0 ? i + extent : i;
      for (int64_t k = 0; k < inner; ++k) y.push_back(x[static_cast<size_t>((o * extent + at) * inner + k)]);
    }
  }
  return y;
}

Builder GatherNode(Form form, const std::vector<int64_t>& shape, int64_t axis,
                   const std::vector<int64_t>& indices_shape, const std::vector<int64_t>& indices,
                   int32_t type = TP::INT64) {
  Builder b = Around(form, "Gather", shape, {"indices"}, 1);
  b.InitInts("indices", indices_shape, indices, type);
  for (auto& node : *b.proto().mutable_graph()->mutable_node()) {
    if (node.op_type() == "Gather") IntAttr(&node, "axis", axis);
  }
  return b;
}

}  // namespace

TEST_CASE("Gather of a computed tensor with constant indices on float int8 and int32 at every tier",
          "[engine][operators][tiers]") {
  const std::vector<int64_t> shape = {2, 5, 6};
  const auto x = WholeRamp(Elements(shape));
  struct Case {
    const char* what;
    int64_t axis;
    std::vector<int64_t> indices_shape, indices, out;
    const char* kind;  // the step's kind: "" a Slice, ", index tables" a table
  };
  const std::vector<Case> cases = {
      {"x[:, :, -1]: a scalar index, the axis dropped", 2, {}, {-1}, {2, 5}, ""},
      {"the CLS token x[:, 0]", 1, {}, {0}, {2, 6}, ""},
      {"evenly stepping indices (a Slice)", 1, {2}, {1, 3}, {2, 2, 6}, ""},
      {"indices walking back, negative ones among them", -1, {4}, {-1, 4, 3, -4}, {2, 5, 4}, ""},
      {"uneven indices (a table), repeats", 1, {4}, {4, 0, 2, 4}, {2, 4, 6}, ", index tables"},
      {"2-D indices along the batch", 0, {2, 2}, {1, 0, 1, 1}, {2, 2, 5, 6}, ", index tables"},
      {"one index as a 1-D tensor keeps the axis", 1, {1}, {-2}, {2, 1, 6}, ""},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const int64_t axis = c.axis < 0 ? c.axis + 3 : c.axis;
    CheckForms([&](Form f) { return GatherNode(f, shape, c.axis, c.indices_shape, c.indices); }, "Gather", x, c.out,
               GatherOf(x, shape, axis, c.indices), c.kind);
  }
  SECTION("int32 indices") {
    CheckForms(
        [&](Form f) {
          return GatherNode(f, shape, 1, {3}, {2, -5, 1}, TP::INT32);
        },
        "Gather", x, {2, 3, 6}, GatherOf(x, shape, 1, {2, 0, 1}), ", index tables");
  }
  SECTION("every index in order: the input itself, no step") {
    CheckForms(
        [&](Form f) {
          return GatherNode(f, {2, 3}, 1, {3}, {0, 1, 2});
        },
        "Gather", WholeRamp(6), {2, 3}, WholeRamp(6), "", true);
  }
}

TEST_CASE("Gather refuses indices out of range or computed and names the node", "[engine][operators]") {
  for (Form form : {Form::kFloat, Form::kInt8}) {
    INFO(FormName(form));
    CHECK_THAT(LoadError(GatherNode(form, {2, 5}, 1, {2}, {0, 5})),
               Contains("(Gather)") && Contains("index 5 is outside axis 1 of length 5"));
    CHECK_THAT(LoadError(GatherNode(form, {2, 5}, 1, {}, {-6})),
               Contains("(Gather)") && Contains("index -6 is outside"));
    CHECK_THAT(LoadError(GatherNode(form, {2, 5}, 2, {}, {0})),
               Contains("(Gather)") && Contains("axis 2 out of range"));
  }
}

// ---------------------------------------------------------------- Gather with run-time indices

namespace {

// The embedding table of the tests below: [4, 3], row r holds 10 r, 10 r + 1, 10 r + 2.
const std::vector<float> kTable = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};

// ids (a graph input of `index_shape` and `index_type`) -> Gather(table, ids, axis) -> y, the
// table a float initializer of `shape`.
Builder Embedding(const std::vector<int64_t>& shape, const std::vector<float>& table, int64_t axis,
                  const std::vector<int64_t>& index_shape, int32_t index_type = TP::INT64) {
  Builder b(13);
  b.Input("ids", index_shape, index_type).Init("table", shape, table).Output("y");
  IntAttr(b.Node("Gather", {"table", "ids"}, {"y"}), "axis", axis);
  return b;
}

// The same with an int8 table behind DequantizeLinear (scale 0.5, zero point `zp`).
Builder Int8Embedding(const std::vector<int64_t>& shape, const std::vector<int>& codes, int zp,
                      const std::vector<int64_t>& index_shape) {
  Builder b(13);
  b.Input("ids", index_shape, TP::INT64).InitI8("codes", shape, codes).Init("ts", {}, {0.5f});
  b.InitI8("tz", {}, {zp}).Output("y");
  b.Node("DequantizeLinear", {"codes", "ts", "tz"}, {"table"});
  b.Node("Gather", {"table", "ids"}, {"y"});
  return b;
}

}  // namespace

TEST_CASE("Gather with run-time indices looks rows up along axis 0 and 1", "[engine][operators]") {
  struct Case {
    const char* what;
    std::vector<int64_t> shape;
    int64_t axis;
    std::vector<int64_t> index_shape;
    int32_t index_type;
    std::vector<float> ids;
    std::vector<int64_t> out_shape;
    std::vector<float> want;  // by hand
  };
  const std::vector<Case> cases = {
      {"an embedding: 2-D int64 ids, negative ones from the end", {4, 3}, 0, {2, 2}, TP::INT64, {1, -1, 0, 2},
       {2, 2, 3}, {10, 11, 12, 30, 31, 32, 0, 1, 2, 20, 21, 22}},
      {"1-D int32 ids, repeated", {4, 3}, 0, {3}, TP::INT32, {3, 3, -4}, {3, 3}, {30, 31, 32, 30, 31, 32, 0, 1, 2}},
      {"a scalar id drops the axis", {4, 3}, 0, {}, TP::INT64, {-2}, {3}, {20, 21, 22}},
      {"axis 1 of [2, 2, 3]", {2, 2, 3}, 1, {3}, TP::INT64, {1, -2, 1}, {2, 3, 3},
       {10, 11, 12, 0, 1, 2, 10, 11, 12, 30, 31, 32, 20, 21, 22, 30, 31, 32}},
      {"the last axis, a scalar int32 id", {4, 3}, -1, {}, TP::INT32, {2}, {4}, {2, 12, 22, 32}},
      {"the last axis, 2-D ids", {2, 6}, 1, {2, 1}, TP::INT64, {5, -6}, {2, 2, 1}, {12, 0, 32, 20}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    auto model = LoadOk(Embedding(c.shape, kTable, c.axis, c.index_shape, c.index_type));
    REQUIRE(model->outputs()[0].shape == c.out_shape);
    const std::string type = c.index_type == TP::INT32 ? "int32" : "int64";
    CHECK_THAT(StepOf(*model, "Gather"), Catch::EndsWith("(float, " + type + " indices)"));
    CHECK(RunOne(model, c.ids) == c.want);
  }
}

TEST_CASE("Gather with run-time indices of an int8 table behind DequantizeLinear gathers its codes",
          "[engine][operators]") {
  // codes [4, 2] at scale 0.5, zero point 3: row r means 0.5 * (code - 3)
  const std::vector<int> codes = {3, 5, -7, 13, 127, -128, 0, 9};
  auto model = LoadOk(Int8Embedding({4, 2}, codes, 3, {2, 2}));
  CHECK_THAT(StepOf(*model, "Gather"), Catch::EndsWith("(int8, int64 indices)"));
  REQUIRE(model->outputs()[0].shape == std::vector<int64_t>{2, 2, 2});
  CHECK(RunOne(model, {2, -3, 0, 3}) == std::vector<float>{62, -65.5f, -5, 5, 0, 1, -1.5f, 3});
  SECTION("followed by its own QuantizeLinear and a Gemm: the codes go on as they are") {
    Builder b = Int8Embedding({4, 2}, codes, 3, {1});
    auto* g = b.proto().mutable_graph();
    g->mutable_node(1)->set_output(0, "e");
    g->mutable_output(0)->set_name("y");
    b.Node("QuantizeLinear", {"e", "ts", "tz"}, {"eq"});
    b.Node("DequantizeLinear", {"eq", "ts", "tz"}, {"ed"});
    b.Init("w", {2, 1}, {1.0f, 2.0f});
    b.Node("MatMul", {"ed", "w"}, {"y"});
    auto m = LoadOk(b);
    CHECK(StepOf(*m, "QuantizeLinear").empty());
    CHECK(RunOne(m, {1}) == std::vector<float>{-5 + 2 * 5});
  }
  SECTION("a scale per column: dequantized at load, gathered in float") {
    Builder b(13);
    b.Input("ids", {2}, TP::INT64).InitI8("codes", {4, 2}, codes).Init("ts", {2}, {0.5f, 1.0f});
    b.InitI8("tz", {2}, {0, 1}).Output("y");
    IntAttr(b.Node("DequantizeLinear", {"codes", "ts", "tz"}, {"table"}), "axis", 1);
    b.Node("Gather", {"table", "ids"}, {"y"});
    auto m = LoadOk(b);
    CHECK_THAT(StepOf(*m, "Gather"), Catch::EndsWith("(float, int64 indices)"));
    CHECK(RunOne(m, {1, 3}) == std::vector<float>{-3.5f, 12, 0, 8});
  }
}

TEST_CASE("Gather with run-time indices of an integer table keeps its type", "[engine][operators]") {
  Builder b(13);
  b.Input("ids", {3}, TP::INT32).Output("y");
  b.InitInts("table", {3, 2}, {int64_t{1} << 40, -7, 5, 6, -(int64_t{1} << 20), 9}, TP::INT64);
  b.Node("Gather", {"table", "ids"}, {"g"});
  b.Node("Sub", {"g", "table"}, {"d"});  // exact in int64: only the first row's 2^40 differs from float
  IntAttr(b.Node("Cast", {"d"}, {"y"}), "to", TP::FLOAT);
  auto model = LoadOk(b);
  CHECK_THAT(StepOf(*model, "Gather"), Catch::EndsWith("(int64, int32 indices)"));
  // rows 2, 0, 1 minus rows 0, 1, 2
  const double big = 1099511627776.0, m20 = -1048576.0;
  const std::vector<float> want = {static_cast<float>(m20 - big), 9 + 7, static_cast<float>(big - 5),
                                   -7 - 6, static_cast<float>(5 - m20), 6 - 9};
  CHECK(RunOne(model, {2, 0, -2}) == want);
}

TEST_CASE("Gather with run-time indices of a computed tensor on float int8 and int32 at every tier",
          "[engine][operators][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  const std::vector<int64_t> shape = {2, 5, 6};
  const auto x = WholeRamp(Elements(shape));
  struct Case {
    int64_t axis;
    std::vector<int64_t> index_shape;
    std::vector<int64_t> ids;
    std::vector<int64_t> out;
  };
  for (const Case& c : std::vector<Case>{{0, {3}, {1, -2, 1}, {3, 5, 6}},
                                         {1, {2, 2}, {4, 0, -1, 2}, {2, 2, 2, 6}},
                                         {2, {}, {-6}, {2, 5}}}) {
    INFO("axis " << c.axis << ", " << c.ids.size() << " ids");
    const std::vector<float> ids(c.ids.begin(), c.ids.end());
    const auto want = GatherOf(x, shape, c.axis, c.ids);
    for (Form form : {Form::kFloat, Form::kInt8, Form::kInt32}) {
      INFO(FormName(form));
      Builder b = Around(form, "Gather", shape, {"ids"}, 1);
      b.Input("ids", c.index_shape, TP::INT64);
      for (auto& node : *b.proto().mutable_graph()->mutable_node()) {
        if (node.op_type() == "Gather") IntAttr(&node, "axis", c.axis);
      }
      auto model = LoadOk(b);
      REQUIRE(model->outputs()[0].shape == c.out);
      CHECK_THAT(StepOf(*model, "Gather"), Catch::EndsWith(std::string("(") + FormName(form) + ", int64 indices)"));
      for (KernelTier tier : form == Form::kInt8 ? tiers : std::vector<KernelTier>{KernelTier::kAuto}) {
        INFO("tier " << KernelTierName(tier));
        CHECK(RunAll(model, {x, ids}, tier)[0] == want);
      }
    }
  }
}

TEST_CASE("Gather with run-time indices gives zeros for an index out of range and reads nothing outside",
          "[engine][operators]") {
  // ONNX leaves no result for such an index (ONNX Runtime fails the run); a step cannot fail, so
  // its row is zeros: 0.0f, integer 0, or the int8 zero point (0.0 after DequantizeLinear).
  auto model = LoadOk(Embedding({4, 3}, kTable, 0, {5}));
  CHECK(RunOne(model, {4, -5, 1, 1e9f, -1e9f}) ==
        std::vector<float>{0, 0, 0, 0, 0, 0, 10, 11, 12, 0, 0, 0, 0, 0, 0});
  auto axis1 = LoadOk(Embedding({2, 6}, kTable, 1, {2}, TP::INT32));
  CHECK(RunOne(axis1, {6, 5}) == std::vector<float>{0, 12, 0, 32});
  // 3e9 as int32 saturates to 2^31 - 1
  CHECK(RunOne(axis1, {3e9f, -3e9f}) == std::vector<float>{0, 0, 0, 0});
  auto int8 = LoadOk(Int8Embedding({4, 2}, {3, 5, -7, 13, 127, -128, 0, 9}, 3, {3}));
  CHECK(RunOne(int8, {-5, 4, 0}) == std::vector<float>{0, 0, 0, 0, 0, 1});
  SECTION("of a computed table") {
    Builder b(13);
    b.Input("x", {4, 3}).Input("ids", {2}, TP::INT64).Output("y");
    b.Node("Gather", {"x", "ids"}, {"y"});
    auto m = LoadOk(b);
    CHECK(RunAll(m, {kTable, {7, -1}})[0] == std::vector<float>{0, 0, 0, 30, 31, 32});
  }
}

TEST_CASE("Gather refuses run-time indices that are not int32 or int64 and names the node", "[engine][operators]") {
  Builder b(13);
  b.Input("ids", {2}).Init("table", {4, 3}, kTable).Output("y");
  b.Node("Gather", {"table", "ids"}, {"y"});
  const std::string node = "node '" + b.proto().graph().node(0).name() + "' (Gather)";
  CHECK_THAT(LoadError(b), Contains(node) && Contains("indices 'ids' are float: Gather takes int32 or int64 indices"));
  Builder i8(13);
  i8.Input("ids", {2}, TP::INT8).Init("table", {4, 3}, kTable).Output("y");
  i8.Node("Gather", {"table", "ids"}, {"y"});
  CHECK_THAT(LoadError(i8), Contains("(Gather)") && Contains("indices 'ids' are int8"));
  CHECK_THAT(LoadError(Embedding({4, 3}, kTable, 2, {2})), Contains("(Gather)") && Contains("axis 2 out of range"));
}

}  // namespace edge::engine::testing
