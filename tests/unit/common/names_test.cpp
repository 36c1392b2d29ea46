#include <catch2/catch.hpp>

#include "common/crypto/x509.h"

using namespace edge::crypto;

TEST_CASE("IsValidName accepts the fleet alphabet", "[crypto][names]") {
  CHECK(IsValidName("gw-1"));
  CHECK(IsValidName("Site_A.north"));
  CHECK(IsValidName(std::string(64, 'a')));
  CHECK(IsValidName("0"));
}

TEST_CASE("IsValidName rejects injection and traversal", "[crypto][names]") {
  CHECK_FALSE(IsValidName(""));
  CHECK_FALSE(IsValidName(std::string(65, 'a')));
  CHECK_FALSE(IsValidName("x'; DROP TABLE--"));
  CHECK_FALSE(IsValidName("a b"));
  CHECK_FALSE(IsValidName("a/b"));
  CHECK_FALSE(IsValidName("a\\b"));
  CHECK_FALSE(IsValidName("."));
  CHECK_FALSE(IsValidName(".."));
  CHECK_FALSE(IsValidName("a\"b"));
  CHECK_FALSE(IsValidName(std::string("a\0b", 3)));
  CHECK_FALSE(IsValidName("a\nb"));
  CHECK_FALSE(IsValidName("caf\xc3\xa9"));
  CHECK_FALSE(IsValidName("*"));
}

TEST_CASE("ParseSpiffeId good cases", "[crypto][names]") {
  auto id = ParseSpiffeId("spiffe://acme/device/gw-1");
  REQUIRE(id);
  CHECK(id->fleet == "acme");
  CHECK(id->kind == "device");
  CHECK(id->name == "gw-1");
  CHECK(id->ToString() == "spiffe://acme/device/gw-1");
  CHECK(ParseSpiffeId("spiffe://acme/operator/alice"));
  CHECK(ParseSpiffeId("spiffe://acme.prod/controller/ctl_1"));
}

TEST_CASE("ParseSpiffeId bad cases", "[crypto][names]") {
  const char* bad[] = {
      "",
      "spiffe://",
      "spiffe://acme",
      "spiffe://acme/device",
      "spiffe://acme/device/",
      "spiffe://acme//gw-1",
      "spiffe:///device/gw-1",
      "spiffe://acme/device/gw-1/extra",
      "spiffe://acme/device/gw-1/",
      "spiffe://acme/robot/gw-1",
      "spiffe://acme/device/../x",
      "spiffe://acme/device/..",
      "SPIFFE://acme/device/gw-1",
      "https://acme/device/gw-1",
      "spiffe://acme/device/gw 1",
      "spiffe://acme/device/gw-1?x=1",
      "spiffe://acme/device/gw-1#f",
      "spiffe://user@acme/device/gw-1",
      "spiffe://acme:443/device/gw-1",
      "spiffe://acme/device/x'; DROP TABLE--",
  };
  for (const char* uri : bad) {
    INFO(uri);
    auto id = ParseSpiffeId(uri);
    CHECK_FALSE(id);
    if (!id) CHECK(id.error().code == edge::ErrorCode::kInvalidArgument);
  }
  CHECK_FALSE(ParseSpiffeId("spiffe://acme/device/" + std::string(65, 'a')));
}

TEST_CASE("IsValidLabel accepts SQL metacharacters but no path syntax", "[crypto][names]") {
  CHECK(edge::crypto::IsValidLabel("plant-7"));
  CHECK(edge::crypto::IsValidLabel("x'); DROP TABLE devices;--"));
  CHECK(edge::crypto::IsValidLabel("m\"; DELETE FROM models; --"));
  CHECK(edge::crypto::IsValidLabel(std::string(64, 'a')));
  for (const char* bad : {"", ".", "..", ".x", "-x", "a/b", "a\\b", "a:b", " a", "a ", "tab\there", "\xc3\xa9"}) {
    INFO(bad);
    CHECK_FALSE(edge::crypto::IsValidLabel(bad));
  }
  CHECK_FALSE(edge::crypto::IsValidLabel(std::string(65, 'a')));
}
