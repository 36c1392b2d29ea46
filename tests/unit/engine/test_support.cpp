#include "tests/unit/engine/test_support.h"

#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include <fstream>
#include <iterator>

#include "tests/support/batch_dynamic.h"

namespace edge::engine::testing {

std::string ZooPath(const std::string& file) { return std::string(EDGE_ZOO_DIR) + "/" + file; }

std::vector<std::string> ZooModels() {
  return {"mlp_anomaly",       "sensor_conv1d", "ds_cnn_kws",       "resnet8",
          "mobilenet_v2_block", "op_mix",        "multiscale_concat", "gated_tcn",
          "tiny_transformer",  "wide_mlp_softmax", "reshape_reduce", "odd_strides"};
}

std::shared_ptr<const Model> LoadOrDie(const std::string& path) {
  auto m = Model::LoadFile(path);
  INFO(path << ": " << (m ? "" : m.error().message));
  REQUIRE(m.has_value());
  return *m;
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INFO(path);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool HasStep(const Model& m, const std::string& needle) {
  for (const auto& s : m.StepSummary()) {
    if (s.find(needle) != std::string::npos) return true;
  }
  return false;
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::shared_ptr<const Model> LoadBatchDynamicOrDie(const std::string& zoo_file, const LoadOptions& options) {
  auto bytes = edge::testing::MakeBatchDynamic(FileBytes(ZooPath(zoo_file)));
  REQUIRE(bytes.has_value());
  auto model = Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()}, options);
  INFO(zoo_file << ": " << (model ? "" : model.error().message));
  REQUIRE(model.has_value());
  return *model;
}

NpyArray ReadOrDie(const std::string& path) {
  auto a = ReadNpy(path);
  INFO(path << ": " << (a ? "" : a.error().message));
  REQUIRE(a.has_value());
  return *a;
}

std::vector<float> RunOne(const std::shared_ptr<const Model>& model, const std::vector<float>& x) {
  ExecutionContext ctx(model);
  std::vector<float> y(static_cast<size_t>(model->outputs().at(0).elements));
  std::vector<const float*> in;
  if (!x.empty()) in.push_back(x.data());
  float* out[] = {y.data()};
  auto st = ctx.Run(in, out);
  INFO((st ? "" : st.error().message));
  REQUIRE(st.has_value());
  return y;
}

std::vector<float> RunSamples(ExecutionContext& ctx, const NpyArray& inputs, int64_t* out_per_sample) {
  const auto& in_info = ctx.model().inputs().at(0);
  const auto& out_info = ctx.model().outputs().at(0);
  const int64_t samples = inputs.shape.at(0);
  REQUIRE(static_cast<int64_t>(inputs.data.size()) == samples * in_info.elements);
  std::vector<float> out(static_cast<size_t>(samples * out_info.elements));
  for (int64_t s = 0; s < samples; ++s) {
    const float* in = inputs.data.data() + s * in_info.elements;
    float* o = out.data() + s * out_info.elements;
    auto st = ctx.Run({&in, 1}, {&o, 1});
    INFO((st ? "" : st.error().message));
    REQUIRE(st.has_value());
  }
  *out_per_sample = out_info.elements;
  return out;
}

GuardedBuffer::GuardedBuffer(size_t bytes, bool at_end, const void* src) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t body = (bytes + page - 1) / page * page;
  len_ = body + 2 * page;
  map_ = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(map_ != MAP_FAILED);
  char* base = static_cast<char*>(map_);
  REQUIRE(mprotect(base, page, PROT_NONE) == 0);
  REQUIRE(mprotect(base + page + body, page, PROT_NONE) == 0);
  data_ = at_end ? base + page + body - bytes : base + page;
  if (src != nullptr && bytes > 0) std::memcpy(data_, src, bytes);
}

GuardedBuffer::~GuardedBuffer() { munmap(map_, len_); }

}  // namespace edge::engine::testing
