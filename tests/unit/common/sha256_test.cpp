#include "common/crypto/sha256.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/crypto/encoding.h"

using namespace edge::crypto;

namespace {
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* k448 = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* kMillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
constexpr const char* k448Input = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
}  // namespace

TEST_CASE("SHA-256 known vectors", "[crypto][sha256]") {
  CHECK(Sha256Hex("") == kEmpty);
  CHECK(Sha256Hex("abc") == kAbc);
  CHECK(Sha256Hex(k448Input) == k448);
  CHECK(Sha256Hex(std::string(1000000, 'a')) == kMillionA);
}

TEST_CASE("SHA-256 streaming in odd chunk sizes equals one shot", "[crypto][sha256]") {
  const std::string million(1000000, 'a');
  for (size_t chunk : {1u, 3u, 63u, 64u, 65u, 997u, 65537u}) {
    Sha256 h;
    for (size_t off = 0; off < million.size(); off += chunk) {
      h.Update(std::string_view(million).substr(off, chunk));
    }
    auto digest = h.Final();
    CHECK(HexEncode(digest) == kMillionA);
  }
  std::string_view in(k448Input);
  Sha256 h;
  h.Update(in.substr(0, 5));
  h.Update(std::string_view());
  h.Update(in.substr(5, 50));
  h.Update(in.substr(55));
  auto digest = h.Final();
  CHECK(HexEncode(digest) == k448);
}

TEST_CASE("SHA-256 is movable", "[crypto][sha256]") {
  Sha256 a;
  a.Update("ab");
  Sha256 b = std::move(a);
  b.Update("c");
  auto digest = b.Final();
  CHECK(HexEncode(digest) == kAbc);
}

TEST_CASE("SHA-256 of a file and of a missing file", "[crypto][sha256]") {
  auto dir = std::filesystem::temp_directory_path() / ("edge_sha_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "abc";
  { std::ofstream(file, std::ios::binary) << "abc"; }
  auto hex = Sha256FileHex(file);
  REQUIRE(hex);
  CHECK(*hex == kAbc);
  auto missing = Sha256FileHex(dir / "nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("nope") != std::string::npos);
  std::filesystem::remove_all(dir);
}
