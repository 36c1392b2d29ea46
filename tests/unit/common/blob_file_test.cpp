#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "bundle_fixtures.h"
#include "common/crypto/sha256.h"
#include "tests/unit/core/temp_dir.h"

using namespace edge::bundle;
using namespace edge::bundle::testing;
using edge::ErrorCode;

namespace {

using edge::testing::TempDir;

// Content larger than one 1 MiB read chunk, to cover the streaming path.
std::string Content() {
  std::string s;
  for (int i = 0; i < (1 << 20) + 4097; ++i) s.push_back(static_cast<char>(i * 31 + 7));
  return s;
}

BlobRef RefFor(const std::string& content) {
  return BlobRef{"model", edge::crypto::Sha256Hex(content), content.size(), ""};
}

void ExpectProblem(const edge::Status& s, ErrorCode code, const std::string& expect) {
  REQUIRE_FALSE(s);
  INFO(s.error().message);
  CHECK(s.error().code == code);
  CHECK(Contains(s.error().message, expect));
}

}  // namespace

TEST_CASE("CheckBlobFile accepts the exact content", "[bundle][blob]") {
  TempDir dir;
  const auto content = Content();
  CHECK(CheckBlobFile(RefFor(content), dir.Write("good", content)));
  CHECK(CheckBlobFile(RefFor(""), dir.Write("empty", "")));
}

TEST_CASE("CheckBlobFile names tampered, truncated, too long and missing", "[bundle][blob]") {
  TempDir dir;
  const auto content = Content();
  const auto ref = RefFor(content);

  std::string tampered = content;
  tampered[tampered.size() / 2] ^= 0x01;
  ExpectProblem(CheckBlobFile(ref, dir.Write("tampered", tampered)), ErrorCode::kDataLoss,
                "sha256 mismatch");
  ExpectProblem(CheckBlobFile(ref, dir.Write("truncated", content.substr(0, content.size() - 1))),
                ErrorCode::kDataLoss, "truncated");
  ExpectProblem(CheckBlobFile(ref, dir.Write("long", content + "x")), ErrorCode::kDataLoss,
                "longer than");
  ExpectProblem(CheckBlobFile(ref, dir.path() / "missing"), ErrorCode::kNotFound, "missing");
  auto missing = CheckBlobFile(ref, dir.path() / "missing");
  CHECK(Contains(missing.error().message, (dir.path() / "missing").string()));
  ExpectProblem(CheckBlobFile(ref, dir.path()), ErrorCode::kDataLoss, "not a regular file");
}
