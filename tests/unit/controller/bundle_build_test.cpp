// `edgectl bundle build` refuses what every device would refuse (a model the engine does not
// load, a self-test that is not this model's) and leaves no output behind when it fails;
// `bundle verify` says so of a bundle built without those checks.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <iterator>

#include "controller/edgectl/bundle_dir.h"
#include "controller/edgectl/bundle_quality.h"
#include "controller/edgectl/pki.h"
#include "core/temp_dir.h"
#include "runtime/runtime_fixtures.h"
#include "tests/unit/controller/test_now.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using edge::testing::TempDir;
namespace stdfs = std::filesystem;
namespace edgectl = edge::edgectl;
namespace rt = edge::runtime::testing;

namespace {

using edge::controller::testing::kNow;

std::string FileBytes(const stdfs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Build {
  TempDir dir;
  stdfs::path model = dir / "model.onnx";
  stdfs::path selftest = dir / "selftest.json";
  edgectl::BundleBuildOptions options;

  explicit Build(const std::string& model_bytes) {
    rt::WriteBytes(model, model_bytes);
    options.name = "kws";
    options.version = "v4";
    options.security_version = 4;
    options.blobs = {{"model", model, "application/vnd.onnx"}};
    options.out = dir / "out";
    options.created = "2027-01-15T08:00:00Z";
  }
  Build& WithSelfTest(const std::string& text) {
    rt::WriteBytes(selftest, text);
    options.blobs.push_back({"selftest", selftest, "application/vnd.edgefleet.selftest+json"});
    return *this;
  }
  std::string Refusal() {
    auto m = edgectl::BuildBundle(options);
    REQUIRE_FALSE(m);
    return m.error().message;
  }
};

std::string Zoo(const std::string& file) { return FileBytes(rt::ZooPath(file)); }

}  // namespace

TEST_CASE("bundle build accepts a model that loads, with and without its self-test",
          "[edgectl][bundle_build]") {
  SECTION("no self-test") {
    Build b(Zoo("mlp_anomaly.qdq.onnx"));
    auto m = edgectl::BuildBundle(b.options);
    INFO((m ? "" : m.error().message));
    REQUIRE(m);
    CHECK(stdfs::exists(b.options.out / "manifest.json"));
  }
  SECTION("its self-test") {
    Build b(Zoo("ds_cnn_kws.qdq.onnx"));
    b.WithSelfTest(rt::ZooSelfTestText("ds_cnn_kws"));
    auto m = edgectl::BuildBundle(b.options);
    INFO((m ? "" : m.error().message));
    REQUIRE(m);
    CHECK(m->blobs.size() == 2);
  }
}

TEST_CASE("bundle build refuses a model that does not load and writes nothing",
          "[edgectl][bundle_build]") {
  const std::string good = Zoo("sensor_conv1d.qdq.onnx");
  struct Bad {
    const char* what;
    std::string bytes;
    const char* problem;
  };
  const Bad bad[] = {
      {"garbage", "GIF89a" + std::string(3000, '\x01'), "not a valid ONNX model"},
      {"truncated ONNX", good.substr(0, good.size() - 200), "not a valid ONNX model"},
      {"an unsupported operator", rt::OnnxWithOp("FrobnicateV2"),
       "unsupported operator FrobnicateV2"},
  };
  for (const auto& bad_model : bad) {
    INFO(bad_model.what);
    Build b(bad_model.bytes);
    const std::string message = b.Refusal();
    CHECK_THAT(
        message,
        StartsWith("refusing to build kws:v4, which every device would refuse: model does not "
                   "load: loading " +
                   b.model.string() + ": "));
    CHECK_THAT(message, Contains(bad_model.problem));
    CHECK_FALSE(stdfs::exists(b.options.out));
  }
}

TEST_CASE("bundle build refuses a self-test that is not this model's", "[edgectl][bundle_build]") {
  struct Bad {
    const char* what;
    std::string text;
    const char* problem;
  };
  const Bad bad[] = {
      {"not JSON", "\x89PNG not json", "invalid JSON"},
      {"JSON, not a self-test", R"({"schema": 1, "vectors": []})", "unknown key 'vectors'"},
      {"a self-test of another model", rt::ZooSelfTestText("mlp_anomaly"),
       "values, the model's input"},
  };
  for (const auto& bad_selftest : bad) {
    INFO(bad_selftest.what);
    Build b(Zoo("ds_cnn_kws.qdq.onnx"));
    b.WithSelfTest(bad_selftest.text);
    const std::string message = b.Refusal();
    CHECK_THAT(
        message,
        StartsWith("refusing to build kws:v4, which every device would refuse: not a self-test "
                   "for model " +
                   b.model.string() + ": " + b.selftest.string()));
    CHECK_THAT(message, Contains(bad_selftest.problem));
    CHECK_FALSE(stdfs::exists(b.options.out));
  }
}

TEST_CASE("bundle build refuses a self-test whose outputs the model does not reproduce",
          "[edgectl][bundle_build]") {
  // The fp32 model's expected outputs with the int8 model, at the default tolerance 0.
  auto fp32 = edge::engine::Model::LoadFile(rt::ZooPath("ds_cnn_kws.onnx"));
  REQUIRE(fp32);
  Build b(Zoo("ds_cnn_kws.qdq.onnx"));
  b.WithSelfTest(rt::SerializeOrDie(rt::ZooSelfTest(*fp32, "ds_cnn_kws"), **fp32));
  const std::string message = b.Refusal();
  CHECK_THAT(message,
             Contains("self-test " + b.selftest.string() + " fails on model " + b.model.string() +
                      " at the scalar kernel tier: self-test case 0, output 'logits'"));
  CHECK_FALSE(stdfs::exists(b.options.out));
}

TEST_CASE("a failed build leaves an existing --out as it found it", "[edgectl][bundle_build]") {
  SECTION("refused by the model check: nothing is written") {
    Build b("not a model");
    stdfs::create_directories(b.options.out);
    b.Refusal();
    CHECK(stdfs::is_empty(b.options.out));
  }
  SECTION("refused after the blobs were copied (a reserved version name)") {
    Build b(Zoo("mlp_anomaly.qdq.onnx"));
    b.options.version = "current";
    stdfs::create_directories(b.options.out / "blobs");
    rt::WriteBytes(b.options.out / "blobs" / "keep-me", "x");
    CHECK_THAT(b.Refusal(), Contains("current"));
    CHECK(stdfs::exists(b.options.out / "blobs" / "keep-me"));
    CHECK(std::distance(stdfs::directory_iterator(b.options.out / "blobs"),
                        stdfs::directory_iterator()) == 1);
    CHECK_FALSE(stdfs::exists(b.options.out / "manifest.json"));
  }
  SECTION("refused after the blobs were copied into a new --out: it is removed") {
    Build b(Zoo("mlp_anomaly.qdq.onnx"));
    b.options.version = "current";
    b.Refusal();
    CHECK_FALSE(stdfs::exists(b.options.out));
  }
}

TEST_CASE("check_model off builds a bundle a device will refuse, and verify says so",
          "[edgectl][bundle_build]") {
  Build b(Zoo("ds_cnn_kws.qdq.onnx").substr(0, 4000));
  b.options.check_model = false;
  REQUIRE(edgectl::BuildBundle(b.options));

  edgectl::PkiInitOptions pki;
  pki.dir = b.dir / "pki";
  pki.fleet = "acme";
  pki.controller_hosts = {"ctl.example"};
  pki.now = kNow - 100;
  REQUIRE(edgectl::PkiInit(pki));
  REQUIRE(edgectl::SignBundle(b.options.out, pki.dir / "release-1.key"));
  const stdfs::path file = b.dir / "kws-v4.bundle";
  REQUIRE(edgectl::ExportBundle(b.options.out, file));
  for (const stdfs::path& what : {b.options.out, file}) {
    INFO(what);
    auto v = edgectl::VerifyBundle(what, pki.dir / "trust-policy.json",
                                   pki.dir / "release-root.pub", kNow);
    REQUIRE_FALSE(v);
    CHECK_THAT(v.error().message,
               StartsWith("kws:v4 is signed and its blobs verify, but every device would "
                          "refuse it: model does not load: loading "));
    CHECK_THAT(v.error().message, Contains("not a valid ONNX model"));
  }
}

TEST_CASE("bundle build with eval data records the measured quality in the signed manifest",
          "[edgectl][bundle_build]") {
  Build b(Zoo("resnet8.qdq.onnx"));
  edgectl::BundleQualityCheck check;
  check.reference_model = rt::ZooPath("resnet8.onnx");
  check.eval_data = rt::ZooPath("resnet8.eval.npy");
  auto measured = edgectl::MeasureBundleQuality(b.model, check);
  INFO((measured ? "" : measured.error().message));
  REQUIRE(measured);
  CHECK(measured->below_bar.empty());
  const auto& q = measured->record;
  CHECK(q.samples == 100);
  REQUIRE(q.outputs.size() == 1);
  CHECK(q.outputs[0].output == "logits");
  REQUIRE(q.outputs[0].top1_agreement);
  CHECK(*q.outputs[0].top1_agreement >= 0.99);
  REQUIRE(q.outputs[0].snr_db);
  CHECK(*q.outputs[0].snr_db >= 30.0);
  b.options.quality = q;
  auto m = edgectl::BuildBundle(b.options);
  INFO((m ? "" : m.error().message));
  REQUIRE(m);
  // What was written, and what a device reads back from it.
  auto parsed = edge::bundle::ParseManifest(FileBytes(b.options.out / "manifest.json"));
  REQUIRE(parsed);
  REQUIRE(parsed->quality);
  CHECK(parsed->quality->outputs[0].snr_db == Approx(*q.outputs[0].snr_db));
  CHECK(parsed->quality->eval_digest.size() == 64);

  // A bar above the figures is reported missed; eval data of another model is refused by layout.
  check.min_snr_db = 80.0;
  auto missed = edgectl::MeasureBundleQuality(b.model, check);
  REQUIRE(missed);
  CHECK_THAT(missed->below_bar, Contains("< --min-snr 80.0"));
  check.eval_data = rt::ZooPath("mlp_anomaly.eval.npy");
  auto foreign = edgectl::MeasureBundleQuality(b.model, check);
  REQUIRE_FALSE(foreign);
  CHECK_THAT(foreign.error().message, Contains("is [100, 64]") && Contains("expected [N, 3, 32, 32]"));
}

TEST_CASE("bundle build refuses a reference model that is quantized or the bundle's own model",
          "[edgectl][bundle_build]") {
  Build b(Zoo("resnet8.qdq.onnx"));
  edgectl::BundleQualityCheck check;
  check.eval_data = rt::ZooPath("resnet8.eval.npy");
  // The bundle's model itself: another spelling and a symlink are the same file.
  stdfs::create_symlink(b.model, b.dir / "link.onnx");
  for (const auto& ref : {b.model, b.dir / "." / "model.onnx", b.dir / "link.onnx"}) {
    INFO(ref.string());
    check.reference_model = ref;
    auto same = edgectl::MeasureBundleQuality(b.model, check);
    REQUIRE_FALSE(same);
    CHECK_THAT(same.error().message, Contains("is the bundle's --model itself"));
  }
  // Any quantized model as the "fp32" reference (a copy of the int8 model, another int8 model).
  rt::WriteBytes(b.dir / "copy.onnx", Zoo("resnet8.qdq.onnx"));
  for (const auto& ref : {b.dir / "copy.onnx", stdfs::path(rt::ZooPath("mlp_anomaly.qdq.onnx"))}) {
    INFO(ref.string());
    check.reference_model = ref;
    auto quantized = edgectl::MeasureBundleQuality(b.model, check);
    REQUIRE_FALSE(quantized);
    CHECK_THAT(quantized.error().message, Contains("is already quantized") && Contains("fp32 model"));
  }
  // A reference whose input differs: the message says it is the reference model's input.
  check.reference_model = rt::ZooPath("mlp_anomaly.onnx");
  auto other = edgectl::MeasureBundleQuality(b.model, check);
  REQUIRE_FALSE(other);
  CHECK_THAT(other.error().message, Contains("--reference-model") && Contains("'s input") && Contains("[1, 64]"));
  // NaN bars are refused.
  check.reference_model = rt::ZooPath("resnet8.onnx");
  check.min_snr_db = std::nan("");
  auto nan = edgectl::MeasureBundleQuality(b.model, check);
  REQUIRE_FALSE(nan);
  CHECK_THAT(nan.error().message, Contains("--min-snr must be a finite number"));
}
