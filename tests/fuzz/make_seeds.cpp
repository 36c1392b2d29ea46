// fuzz_make_seeds OUTDIR: writes the generated seed corpora, one directory per target, into
// OUTDIR (tests/fuzz/run.sh calls it before every campaign). Seeds are made here rather than
// committed: the signed ones depend on the fixed keys in fuzz_support.h, and a real bundle
// file is binary. The zoo models and the example configs are copied by run.sh.
#include <openssl/ssl.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/bundle/bundle_file.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "edge/v1/agent.pb.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edge;
using namespace edge::bundle;
namespace stdfs = std::filesystem;

namespace {

stdfs::path out_dir;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const auto dir = out_dir / target;
  stdfs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

Manifest SampleManifest(const std::string& name, const std::vector<std::pair<std::string, std::string>>& blobs) {
  Manifest m;
  m.name = name;
  m.version = "1.2.0+build.7";
  m.security_version = 5;
  m.created = "2026-11-22T04:00:00Z";
  m.expires = fuzz::kNow + 86400 * 365;
  m.compat.arch = "x86_64";
  m.compat.cpu_features = {"avx2", "fma"};
  m.compat.min_engine_abi = 2;
  for (const auto& [role, content] : blobs)
    m.blobs.push_back({role, crypto::Sha256Hex(content), content.size(), "application/octet-stream"});
  m.io = {{"inputs", {{{"name", "x"}, {"shape", {1, 3, 8, 8}}, {"dtype", "int8"}}}}};
  m.health.selftest_tolerance = 0.01;
  m.health.latency_budget_us = 5000;
  m.health.soak_seconds = 600;
  m.health.max_tries = 3;
  return m;
}

void EnvelopeAndJsonSeeds() {
  const auto manifest = SampleManifest("detector", {{"model", "model bytes"}, {"selftest", "selftest bytes"}});
  const auto other = SampleManifest("other-model", {{"model", "m"}});
  Write("manifest", "full.json", SerializeManifest(manifest));
  Write("manifest", "other_model.json", SerializeManifest(other));
  Write("manifest", "minimal.json",
        R"({"schema":1,"name":"kws","version":"1","security_version":0,"blobs":[{"role":"model","digest":")" +
            crypto::Sha256Hex("x") + R"(","size":1}]})");

  Write("trust_policy", "fixed.json", SerializeTrustPolicy(fuzz::Policy()));
  auto expired = fuzz::Policy();
  expired.expires = fuzz::kNow - 1;
  Write("trust_policy", "expired.json", SerializeTrustPolicy(expired));

  Write("envelope", "manifest_release_key.json",
        SerializeEnvelope(fuzz::SignedEnvelope(kManifestPayloadType, SerializeManifest(manifest), fuzz::ReleaseKey())));
  Write("envelope", "manifest_not_allowed.json",
        SerializeEnvelope(fuzz::SignedEnvelope(kManifestPayloadType, SerializeManifest(other), fuzz::ReleaseKey())));
  auto two = fuzz::SignedEnvelope(kManifestPayloadType, SerializeManifest(other), fuzz::ReleaseKey());
  if (!SignEnvelope(two, fuzz::WildcardKey().seed)) fuzz::Die("cannot sign");
  Write("envelope", "manifest_two_signatures.json", SerializeEnvelope(two));
  Write("envelope", "policy_root.json",
        SerializeEnvelope(fuzz::SignedEnvelope(kTrustPolicyPayloadType, SerializeTrustPolicy(fuzz::Policy()), fuzz::RootKey())));
  Write("envelope", "unsigned.json", SerializeEnvelope(Envelope{std::string(kManifestPayloadType), "{}", {}}));

  Write("json_depth", "nested.json", "\x04" R"({"a":[[{"b":"[[[{"}]],"c":"\"{"}],"d":{}})");
  Write("json_depth", "escapes.json", "\x07" R"(["\\",{"\"":["\u005b"]},[[1e5,-0.5,true,null]]])");
  Write("json_depth", "duplicate.json", "\x1f" R"({"k":1,"k":2})");
}

void BundleFileSeeds() {
  const auto tmp = out_dir / ".bundle-blobs";
  stdfs::create_directories(tmp);
  auto make = [&](const std::string& name, const std::vector<std::pair<std::string, std::string>>& blobs) {
    const auto manifest = SampleManifest("detector", blobs);
    for (const auto& [role, content] : blobs) std::ofstream(tmp / crypto::Sha256Hex(content), std::ios::binary) << content;
    const auto envelope =
        SerializeEnvelope(fuzz::SignedEnvelope(kManifestPayloadType, SerializeManifest(manifest), fuzz::ReleaseKey()));
    stdfs::create_directories(out_dir / "bundle_file");
    auto s = WriteBundleFile(envelope, manifest, [&](const std::string& digest) { return tmp / digest; },
                             out_dir / "bundle_file" / name);
    if (!s) fuzz::Die("cannot write a seed bundle file", s.error().message);
  };
  make("two_blobs.tar", {{"model", std::string(700, 'm')}, {"selftest", "selftest bytes"}});
  make("empty_blob.tar", {{"model", "model"}, {"labels", ""}});
  make("one_block.tar", {{"model", std::string(512, '\x01')}});
  stdfs::remove_all(tmp);
}

void HealthReportSeeds() {
  edge::v1::StatusReport r;
  r.set_acked_generation(7);
  auto* status = r.add_models();
  status->set_model("detector");
  status->set_version("1.2.0");
  status->set_state("committed");
  auto* h = r.mutable_health();
  h->set_unix_time(fuzz::kNow);
  h->set_cpu_percent(12.5);
  h->set_rss_bytes(50 << 20);
  h->set_disk_free_bytes(uint64_t{1} << 33);
  h->set_uptime_seconds(3600);
  auto* m = h->add_models();
  m->set_model("detector");
  m->set_version("1.2.0");
  m->set_state("committed");
  m->set_inferences(1000);
  m->set_errors(3);
  for (uint64_t b : {100, 500, 1000, 5000}) m->mutable_latency()->add_bucket_upper_us(b);
  for (uint64_t c : {10, 500, 400, 80, 10}) m->mutable_latency()->add_counts(c);
  m->set_p50_us(420.5);
  m->set_p99_us(4800);
  m->set_last_selftest("passed 3 cases, max error 0.0 \xc3\xa9\xe2\x82\xac");
  m->set_last_selftest_at(fuzz::kNow - 60);
  for (uint64_t seq : {3, 1, 2, 2}) {
    auto* e = r.add_events();
    e->set_seq(seq);
    e->set_model("detector");
    e->set_version("1.2.0");
    e->set_outcome(seq == 1 ? "committed" : seq == 2 ? "rolled_back" : "failed");
    e->set_reason(std::string(seq * 300, 'r') + "\xe2\x82\xac");
    e->set_unix_time(fuzz::kNow);
    e->set_offline_install(seq == 3);
  }
  Write("health_report", "full.pb", r.SerializeAsString());
  r.clear_events();
  Write("health_report", "health_only.pb", r.SerializeAsString());
}

void ConfigSeeds() {
  Write("config", "numbers.json", R"({"device_name":"gw-1","controller":"c:1","ca_file":"ca","release_root_public_key":"k",)"
                                  R"("report_interval_seconds":3600,"probation_max_error_rate":1,"backoff_initial_ms":10,)"
                                  R"("inference_socket_mode":"0770","min_free_bytes":9223372036854775807})");
  Write("config", "types.json", R"({"fleet":"f","data_dir":"/d","device_cert_ttl_seconds":30,"log_level":"debug",)"
                                R"("health_history_samples":10000,"x":[true,null,-1.5e3,18446744073709551615]})");
}

}  // namespace

// ClientHellos as OpenSSL writes them: a browser's ALPN (h2, http/1.1), gRPC's, none.
void ClientHelloSeeds() {
  const std::pair<const char*, std::string> offers[] = {{"browser", std::string("\x02h2\x08http/1.1", 12)},
                                                        {"grpc", std::string("\x08grpc-exp\x02h2", 12)},
                                                        {"no_alpn", ""}};
  for (const auto& [name, alpn] : offers) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    if (!alpn.empty())
      SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn.data()), static_cast<unsigned>(alpn.size()));
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, BIO_new(BIO_s_mem()), out);
    SSL_set_connect_state(ssl);
    SSL_do_handshake(ssl);
    char* data = nullptr;
    const long n = BIO_get_mem_data(out, &data);
    if (n > 0) Write("client_hello", name, std::string(data, static_cast<size_t>(n)));
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUTDIR | --keys\n");
    return 2;
  }
  if (std::string(argv[1]) != "--keys") {
    out_dir = argv[1];
    EnvelopeAndJsonSeeds();
    BundleFileSeeds();
    HealthReportSeeds();
    ConfigSeeds();
    ClientHelloSeeds();
    return 0;
  }
  // The fixed keys' ids and public keys: tests/fuzz/json.dict lists the same strings.
  for (const auto* key : {&fuzz::RootKey(), &fuzz::ReleaseKey(), &fuzz::WildcardKey()})
    std::printf("key %s %s\n", crypto::Ed25519KeyId(key->public_key).c_str(),
                crypto::Base64Encode(std::string_view(reinterpret_cast<const char*>(key->public_key.data()),
                                                      key->public_key.size()))
                    .c_str());
  return 0;
}
