#include <catch2/catch.hpp>

#include "bundle_fixtures.h"
#include "common/crypto/encoding.h"

using namespace edge::bundle;
using namespace edge::bundle::testing;
using edge::ErrorCode;

TEST_CASE("PAE matches the DSSE spec byte for byte", "[bundle][envelope]") {
  CHECK(PreAuthEncoding("http://example.com/HelloWorld", "hello world") ==
        "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  CHECK(PreAuthEncoding("", "") == "DSSEv1 0  0 ");
  // Lengths are byte counts, not character counts.
  CHECK(PreAuthEncoding("t", "\xc3\xa9") == "DSSEv1 1 t 2 \xc3\xa9");
  std::string with_nul("a\0b", 3);
  CHECK(PreAuthEncoding("t", with_nul) == std::string("DSSEv1 1 t 3 a\0b", 16));
}

TEST_CASE("Envelope JSON round trip", "[bundle][envelope]") {
  auto a = NewKey();
  auto b = NewKey();
  Envelope env{"application/x-test", std::string("binary\0payload\xff", 15), {}};
  REQUIRE(SignEnvelope(env, a.seed));
  REQUIRE(SignEnvelope(env, b.seed));
  auto json = SerializeEnvelope(env);
  auto back = ParseEnvelope(json);
  REQUIRE(back);
  CHECK(back->payload_type == env.payload_type);
  CHECK(back->payload == env.payload);
  REQUIRE(back->signatures.size() == 2);
  CHECK(back->signatures[0].key_id == edge::crypto::Ed25519KeyId(a.public_key));
  CHECK(back->signatures[0].sig == env.signatures[0].sig);
  CHECK(back->signatures[1].sig == env.signatures[1].sig);
  CHECK(edge::crypto::Ed25519Verify(
      a.public_key, PreAuthEncoding(back->payload_type, back->payload), back->signatures[0].sig));
  auto doc = nlohmann::json::parse(json);
  CHECK(doc["payload"] == edge::crypto::Base64Encode(env.payload));
}

TEST_CASE("Envelope parsing is strict", "[bundle][envelope]") {
  const std::string sig64 = edge::crypto::Base64Encode(std::string(64, 'x'));
  const std::string good_sig = R"({"keyid":"k","sig":")" + sig64 + R"("})";
  struct Case {
    const char* name;
    std::string json;
    const char* expect;
  };
  const Case cases[] = {
      {"unknown top-level key", R"({"payloadType":"t","payload":"","signatures":[],"extra":1})",
       "extra"},
      {"missing payloadType", R"({"payload":"","signatures":[]})", "payloadType"},
      {"empty payloadType", R"({"payloadType":"","payload":"","signatures":[]})", "payloadType"},
      {"missing signatures", R"({"payloadType":"t","payload":""})", "signatures"},
      {"bad base64 payload", R"({"payloadType":"t","payload":"!!!!","signatures":[]})", "payload"},
      {"payload not a string", R"({"payloadType":"t","payload":5,"signatures":[]})", "payload"},
      {"signatures not an array", R"({"payloadType":"t","payload":"","signatures":{}})",
       "signatures"},
      {"unknown key in signature",
       R"({"payloadType":"t","payload":"","signatures":[{"keyid":"k","sig":")" + sig64 +
           R"(","x":1}]})",
       "'x'"},
      {"short signature",
       R"({"payloadType":"t","payload":"","signatures":[{"keyid":"k","sig":"AAAA"}]})", "64-byte"},
      {"missing keyid",
       R"({"payloadType":"t","payload":"","signatures":[{"sig":")" + sig64 + R"("}]})", "keyid"},
      {"not an object", R"([1,2,3])", "object"},
      {"not JSON", R"({"payloadType":)", "invalid JSON"},
      {"trailing garbage", R"({"payloadType":"t","payload":"","signatures":[]} x)", "invalid JSON"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto env = ParseEnvelope(c.json);
    REQUIRE_FALSE(env);
    CHECK(env.error().code == ErrorCode::kInvalidArgument);
    INFO(env.error().message);
    CHECK(Contains(env.error().message, c.expect));
  }
  CHECK(ParseEnvelope(R"({"payloadType":"t","payload":"","signatures":[)" + good_sig + "]}"));
}

TEST_CASE("Envelope over the size limit is rejected", "[bundle][envelope]") {
  std::string big = R"({"payloadType":"t","payload":")" + std::string(kMaxEnvelopeBytes, 'A') +
                    R"(","signatures":[]})";
  auto env = ParseEnvelope(big);
  REQUIRE_FALSE(env);
  CHECK(Contains(env.error().message, "exceeds the limit"));
}

TEST_CASE("JSON depth check", "[bundle][json]") {
  CHECK(CheckJsonDepth(std::string(32, '[') + std::string(32, ']')));
  auto too_deep = CheckJsonDepth(std::string(33, '[') + std::string(33, ']'));
  REQUIRE_FALSE(too_deep);
  CHECK(Contains(too_deep.error().message, "deeper than 32"));
  // Brackets inside strings, including after escaped quotes, do not count.
  std::string in_string =
      R"({"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"})";
  CHECK(CheckJsonDepth(in_string, 2));
  CHECK(ParseJsonLimited(in_string, "test"));
  // A string that ends in an escaped backslash closes normally, so what follows counts.
  CHECK_FALSE(CheckJsonDepth(R"(["\\",[[]]])", 2));
  CHECK(CheckJsonDepth(R"(["\\",[]])", 2));
}

TEST_CASE("JSON with a duplicate key is rejected", "[bundle][json]") {
  auto dup = ParseJsonLimited(R"({"a":{"b":1,"b":2}})", "doc");
  REQUIRE_FALSE(dup);
  CHECK(Contains(dup.error().message, "doc: duplicate key 'b'"));
  CHECK(ParseJsonLimited(R"({"a":{"b":1},"c":{"b":2}})", "doc"));
  CHECK(ParseJsonLimited(R"([{"b":1},{"b":2}])", "doc"));
  auto manifest = ParseManifest(R"({"schema":1,"name":"a","name":"b"})");
  REQUIRE_FALSE(manifest);
  CHECK(Contains(manifest.error().message, "duplicate key 'name'"));
  auto bad = ParseJsonLimited("{\"a\":", "doc");
  REQUIRE_FALSE(bad);
  CHECK(Contains(bad.error().message, "doc: invalid JSON"));
}

TEST_CASE("JSON nested 100000 deep is rejected fast", "[bundle][json]") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string deep_obj = [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += R"({"a":)";
    s += "1";
    s += std::string(100000, '}');
    return s;
  }();
  auto start = std::chrono::steady_clock::now();
  auto arr = ParseJsonLimited(deep, "deep array");
  auto obj = ParseJsonLimited(deep_obj, "deep object");
  auto manifest = ParseManifest(deep_obj);
  auto env = ParseEnvelope(deep);
  auto policy = ParseTrustPolicy(deep);
  auto elapsed = std::chrono::steady_clock::now() - start;
  for (const auto* r : {&arr, &obj}) {
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == ErrorCode::kInvalidArgument);
    CHECK(Contains(r->error().message, "nested deeper than 32"));
  }
  REQUIRE_FALSE(manifest);
  CHECK(Contains(manifest.error().message, "manifest: JSON nested deeper"));
  REQUIRE_FALSE(env);
  CHECK(Contains(env.error().message, "envelope: JSON nested deeper"));
  REQUIRE_FALSE(policy);
  CHECK(elapsed < std::chrono::milliseconds(500));
}
