#include "common/crypto/encoding.h"

#include <catch2/catch.hpp>

using namespace edge::crypto;

TEST_CASE("Hex round trip and case", "[crypto][encoding]") {
  std::string bytes("\x00\x01\x7f\x80\xfe\xff", 6);
  CHECK(HexEncode(bytes) == "00017f80feff");
  auto back = HexDecode("00017F80FEff");
  REQUIRE(back);
  CHECK(*back == bytes);
  CHECK(HexDecode("")->empty());
}

TEST_CASE("Hex rejects odd length and non-hex", "[crypto][encoding]") {
  CHECK_FALSE(HexDecode("abc"));
  CHECK_FALSE(HexDecode("zz"));
  CHECK_FALSE(HexDecode("0g"));
  CHECK_FALSE(HexDecode(" 00"));
  CHECK(HexDecode("abc").error().code == edge::ErrorCode::kInvalidArgument);
}

TEST_CASE("Base64 RFC 4648 vectors", "[crypto][encoding]") {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(Base64Encode(plain) == encoded);
    auto back = Base64Decode(encoded);
    REQUIRE(back);
    CHECK(*back == plain);
  }
}

TEST_CASE("Base64 round trip of all byte values", "[crypto][encoding]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 7) {
    auto sub = all.substr(0, len);
    auto back = Base64Decode(Base64Encode(sub));
    REQUIRE(back);
    CHECK(*back == sub);
  }
}

TEST_CASE("Base64 rejects bad input", "[crypto][encoding]") {
  CHECK_FALSE(Base64Decode("Zg="));       // length not a multiple of 4
  CHECK_FALSE(Base64Decode("Zg"));        // missing padding
  CHECK_FALSE(Base64Decode("Z==="));      // too much padding
  CHECK_FALSE(Base64Decode("Zm9v\n"));    // whitespace
  CHECK_FALSE(Base64Decode("Zm 9"));      // space
  CHECK_FALSE(Base64Decode("Zm-_"));      // URL alphabet
  CHECK_FALSE(Base64Decode("Zg=a"));      // data after padding
  CHECK_FALSE(Base64Decode("=Zm9"));      // padding first
  CHECK_FALSE(Base64Decode("Zh=="));      // non-zero trailing bits
  CHECK_FALSE(Base64Decode("Zm9=Zm9v"));  // padding in the middle
}
