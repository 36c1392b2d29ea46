// The same numbers on every architecture: each zoo model's outputs on its held-out inputs
// (the first 16 of <name>.eval.npy), fp32 and int8 (at every kernel tier this CPU has), must equal bit for bit
// the outputs recorded on x86-64 (<name>.engine.npy, <name>.qdq.engine.npy). A self-test
// recorded on one gateway is checked with tolerance 0 on another, so a last-bit difference
// (a fused multiply-add, a libm that rounds differently, a kernel that is not bit-exact) would
// roll a good model back. The recording is refreshed on x86-64 with
//   EDGE_RECORD_ENGINE_OUTPUTS=1 build/ci/tests/unit/engine/edge_engine_tests "[cross-arch]"
// (only when the engine's numbers are meant to change; the x86 run checks it like every other).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The first samples of the held-out set: enough to reach every op with varied data, few enough
// to run at every tier under emulation.
constexpr int64_t kSamples = 16;

// fp32 models run the same float code at every tier: they are checked once (kAuto).
void CheckAgainstRecording(const std::string& model_file, const std::string& recording, bool every_tier) {
  auto model = LoadOrDie(ZooPath(model_file));
  const std::string name = model_file.substr(0, model_file.find('.'));
  NpyArray inputs = ReadOrDie(ZooPath(name + ".eval.npy"));
  if (inputs.shape[0] > kSamples) {
    inputs.data.resize(inputs.data.size() / static_cast<size_t>(inputs.shape[0]) * kSamples);
    inputs.shape[0] = kSamples;
  }
  const bool record = std::getenv("EDGE_RECORD_ENGINE_OUTPUTS") != nullptr;
  if (record) {
#if !defined(__x86_64__)
    FAIL("the recording is made on x86-64");
#endif
    ExecutionContext ctx(model, KernelTier::kScalar);
    int64_t per = 0;
    NpyArray out{{inputs.shape[0], 0}, RunSamples(ctx, inputs, &per)};
    out.shape[1] = per;
    REQUIRE(WriteNpy(ZooPath(recording), out).has_value());
  }
  const NpyArray expected = ReadOrDie(ZooPath(recording));
  std::vector<KernelTier> tiers{KernelTier::kAuto};
  if (every_tier) {
    tiers.clear();
    for (KernelTier tier : kAllTiers)
      if (TierSupported(tier)) tiers.push_back(tier);
  }
  for (KernelTier tier : tiers) {
    ExecutionContext ctx(model, tier);
    int64_t per = 0;
    const std::vector<float> out = RunSamples(ctx, inputs, &per);
    REQUIRE(out.size() == expected.data.size());
    size_t differing = 0, first = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (SameBits(out[i], expected.data[i])) continue;
      if (differing++ == 0) first = i;
    }
    INFO(model_file << " at tier " << KernelTierName(tier) << ": " << differing << " of " << out.size()
                    << " outputs differ from the x86-64 recording; the first, element " << first << ": "
                    << out[first] << " here, " << expected.data[first] << " recorded (relative difference "
                    << std::abs(out[first] - expected.data[first]) / std::max(std::abs(expected.data[first]), 1e-30f)
                    << ")");
    CHECK(differing == 0);
  }
}

TEST_CASE("zoo outputs equal the x86-64 recording bit for bit at every tier", "[engine][zoo][cross-arch]") {
  for (const auto& name : ZooModels()) {
    DYNAMIC_SECTION(name << " fp32") { CheckAgainstRecording(name + ".onnx", name + ".engine.npy", false); }
    DYNAMIC_SECTION(name << " int8") { CheckAgainstRecording(name + ".qdq.onnx", name + ".qdq.engine.npy", true); }
  }
}

// Run plainly, the detected tier belongs to this architecture and no other architecture's tier
// counts as supported. Under qemu-aarch64 the arm64 build registers one run per emulated CPU
// (tests/unit/engine/CMakeLists.txt) with EDGE_EXPECT_TIER naming the tier that CPU must get:
// a detection that claims a feature the CPU lacks would run into SIGILL on a real board.
TEST_CASE("the detected kernel tier is this CPU's best and of this architecture", "[engine][cpu-detect]") {
  const KernelTier best = BestSupportedTier();
  INFO("detected " << KernelTierName(best));
  if (const char* expect = std::getenv("EDGE_EXPECT_TIER")) CHECK(KernelTierName(best) == expect);
#if defined(__x86_64__)
  const std::vector<KernelTier> native{KernelTier::kScalar, KernelTier::kAvx2, KernelTier::kAvxVnni,
                                       KernelTier::kAvx512Vnni, KernelTier::kAmx};
#elif defined(__aarch64__)
  const std::vector<KernelTier> native{KernelTier::kScalar, KernelTier::kNeon, KernelTier::kNeonDot,
                                       KernelTier::kI8mm};
#else
  const std::vector<KernelTier> native{KernelTier::kScalar};
#endif
  CHECK(std::find(native.begin(), native.end(), best) != native.end());
  for (KernelTier tier : kAllTiers) {
    const bool here = std::find(native.begin(), native.end(), tier) != native.end();
    INFO("tier " << KernelTierName(tier));
    if (!here) CHECK_FALSE(TierSupported(tier));
    if (!here) CHECK(EffectiveTier(tier) == best);
    // avxvnni: not implied by avx512vnni (Ice Lake), so only "best implies supported" holds
    if (here && tier != KernelTier::kAvxVnni) CHECK(TierSupported(tier) == (tier <= best));
    if (here && tier == KernelTier::kAvxVnni && best == KernelTier::kAvxVnni) CHECK(TierSupported(tier));
    if (here && tier == KernelTier::kAvxVnni && best < KernelTier::kAvxVnni) CHECK_FALSE(TierSupported(tier));
  }
  CHECK(TierSupported(KernelTier::kScalar));
#if defined(__x86_64__) && defined(__linux__)
  // avxvnni is checked against the kernel's own reading of the CPU (the avx_vnni flag in
  // /proc/cpuinfo), whatever the best tier: a detection that missed it would turn every
  // [tier avxvnni] run into a skip, and one that claimed it falsely into SIGILL.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool flag = false, read = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    read = true;
    flag = (line + " ").find(" avx_vnni ") != std::string::npos;
    break;
  }
  if (read && best != KernelTier::kScalar) CHECK(TierSupported(KernelTier::kAvxVnni) == flag);
#endif
}

}  // namespace
}  // namespace edge::engine::testing
