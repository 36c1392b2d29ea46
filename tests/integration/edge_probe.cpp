// edge-probe: a raw AgentService client for security tests. It presents whatever certificate
// it is given and prints the gRPC outcome as "<CODE>: <message>", so tests can show that the
// controller takes identity from the certificate only.
//   edge-probe hello  --addr A --ca F --cert F --key F --model M --version V
//   edge-probe fetch  --addr A --ca F --cert F --key F --digest D
//   edge-probe push-envelope --addr A --ca F --cert F --key F --file F   (operator endpoint)
//   edge-probe renew  --addr A --ca F --cert F --key F --out-cert F --out-key F
//       RenewCertificate with a fresh key of its own (what a thief holding a copied key does);
//       on success writes the new certificate and key.
//   edge-probe hostile --addr A --ca F --cert F --key F --case C [--seconds S]
//       a compromised device: hello, then one malformed status report (C = huge-version,
//       escape-state, max-floor, many-models, duplicate-model), or (C = event-flood) reports of
//       256 events each as fast as it can for S seconds; prints what was sent and acknowledged.
//   edge-probe report --addr A --ca F --cert F --key F --times N
//       hello, then N times the same status report: health (one good model, one with a
//       malformed histogram) and update events seq 1 committed, seq 2 rolled_back (offline
//       install), seq 3 with an unknown outcome; prints "ack: <up_to_seq>" after each.
#include <atomic>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/core/fs.h"
#include "common/crypto/x509.h"
#include "common/tls/grpc_tls.h"
#include "edge/v1/admin.grpc.pb.h"
#include "edge/v1/agent.grpc.pb.h"

namespace {

const char* CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "OTHER";
  }
}

int Print(const grpc::Status& s) {
  std::cout << CodeName(s.error_code()) << ": " << s.error_message() << std::endl;
  return s.ok() ? 0 : 1;
}

edge::v1::AgentMessage HealthReport() {
  edge::v1::AgentMessage msg;
  auto* status = msg.mutable_status();
  auto* health = status->mutable_health();
  health->set_unix_time(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count());
  health->set_cpu_percent(12.5);
  health->set_rss_bytes(48 << 20);
  health->set_disk_free_bytes(20ULL << 30);
  health->set_uptime_seconds(7200);
  auto* m = health->add_models();
  m->set_model("kws");
  m->set_version("v1");
  m->set_state("committed");
  m->set_inferences(4321);
  m->set_errors(3);
  for (uint64_t b : {250, 500, 1000}) m->mutable_latency()->add_bucket_upper_us(b);
  for (uint64_t c : {4000, 300, 20, 1}) m->mutable_latency()->add_counts(c);
  m->set_p50_us(180);
  m->set_p99_us(870);
  m->set_last_selftest("passed 3 cases, max error 0.0");
  m->set_last_selftest_at(health->unix_time() - 60);
  auto* bad = health->add_models();
  bad->set_model("broken");
  bad->mutable_latency()->add_bucket_upper_us(10);  // one bound, three counts: refused
  for (uint64_t c : {1, 2, 3}) bad->mutable_latency()->add_counts(c);
  auto event = [&](uint64_t seq, const char* version, const char* outcome, const char* reason, bool offline) {
    auto* e = status->add_events();
    e->set_seq(seq);
    e->set_model("kws");
    e->set_version(version);
    e->set_outcome(outcome);
    e->set_reason(reason);
    e->set_unix_time(health->unix_time() - 300 + static_cast<int64_t>(seq));
    e->set_offline_install(offline);
  };
  event(1, "v1", "committed", "", false);
  event(2, "v2", "rolled_back", "p99 1.9ms over the 1ms budget", true);
  event(3, "v3", "exploded", "", false);
  return msg;
}

int SendReports(grpc::ClientReaderWriter<edge::v1::AgentMessage, edge::v1::ControllerMessage>& stream, int times) {
  edge::v1::AgentMessage hello;
  auto* m = hello.mutable_hello()->add_models();
  m->set_model("kws");
  m->set_version("v1");
  m->set_state("committed");
  stream.Write(hello);
  const auto report = HealthReport();
  edge::v1::ControllerMessage in;
  for (int i = 0; i < times; ++i) {
    stream.Write(report);
    // Skip the desired state (and anything else) until the ack.
    while (stream.Read(&in) && !in.has_ack()) {
    }
    if (!in.has_ack()) break;
    std::cout << "ack: " << in.ack().up_to_seq() << std::endl;
  }
  stream.WritesDone();
  return Print(stream.Finish());
}

edge::v1::AgentMessage HostileReport(const std::string& which) {
  edge::v1::AgentMessage msg;
  auto* status = msg.mutable_status();
  auto good = [&](const std::string& model) {
    auto* m = status->add_models();
    m->set_model(model);
    m->set_version("v1");
    m->set_state("committed");
    return m;
  };
  if (which == "huge-version") good("kws")->set_target_version(std::string(1 << 20, 'v'));
  else if (which == "escape-state") good("kws")->set_state("\x1b[2J\rgw-7z  plant-7  online");
  else if (which == "max-floor") good("kws")->set_security_floor(UINT64_MAX);
  else if (which == "duplicate-model") good("kws"), good("kws");
  else if (which == "many-models")
    for (int i = 0; i < 60000; ++i) good("m" + std::to_string(i));
  return msg;
}

int Hostile(edge::v1::AgentService::Stub& stub, const std::string& which, int seconds) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds + 10));
  auto stream = stub.Connect(&ctx);
  edge::v1::AgentMessage hello;
  auto* m = hello.mutable_hello()->add_models();
  m->set_model("kws");
  m->set_version("v1");
  m->set_state("committed");
  stream->Write(hello);
  if (which != "event-flood") {
    stream->Write(HostileReport(which));
    edge::v1::ControllerMessage in;
    while (stream->Read(&in)) {
    }
    return Print(stream->Finish());
  }
  // Reports of 256 events each; a reader thread counts the acks.
  std::atomic<uint64_t> acked{0};
  std::thread reader([&] {
    edge::v1::ControllerMessage in;
    while (stream->Read(&in))
      if (in.has_ack()) acked = in.ack().up_to_seq();
  });
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  uint64_t seq = 0, reports = 0;
  while (std::chrono::steady_clock::now() < end) {
    edge::v1::AgentMessage msg;
    for (int i = 0; i < 256; ++i) {
      auto* e = msg.mutable_status()->add_events();
      e->set_seq(++seq);
      e->set_model("kws");
      e->set_version("v1");
      e->set_outcome("failed");
      e->set_reason("flood");
    }
    if (!stream->Write(msg)) break;
    ++reports;
  }
  // Writes block once flow control pushes back, so the flood may outlast `seconds`.
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t acked_at_end = acked.load();
  ctx.TryCancel();
  reader.join();
  std::cout << "reports: " << reports << " events: " << seq << " acked_up_to: " << acked_at_end
            << " elapsed_ms: " << static_cast<int64_t>(elapsed * 1000) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge-probe: raw AgentService calls for security tests"};
  app.require_subcommand(1);
  std::string addr, ca, cert, key, model, version, digest;
  for (auto* opt : {&addr, &ca, &cert, &key}) (void)opt;
  app.add_option("--addr", addr)->required();
  app.add_option("--ca", ca)->required();
  app.add_option("--cert", cert);
  app.add_option("--key", key);
  auto* hello = app.add_subcommand("hello", "connect, send hello (+ a status report) and read the desired state");
  hello->add_option("--model", model)->required();
  hello->add_option("--version", version)->required();
  auto* fetch = app.add_subcommand("fetch", "fetch a blob");
  fetch->add_option("--digest", digest)->required();
  std::string envelope_file;
  auto* push = app.add_subcommand("push-envelope", "send raw envelope bytes to PushBundle, bypassing edgectl's checks");
  push->add_option("--file", envelope_file)->required();
  int times = 1;
  auto* report = app.add_subcommand("report", "send a status report with health and update events, print the acks");
  report->add_option("--times", times, "how often to send the same report");
  std::string hostile_case;
  int seconds = 3;
  auto* hostile = app.add_subcommand("hostile", "act as a compromised device");
  hostile->add_option("--case", hostile_case)->required()->check(
      CLI::IsMember({"huge-version", "escape-state", "max-floor", "many-models", "duplicate-model", "event-flood"}));
  hostile->add_option("--seconds", seconds, "event-flood duration")->check(CLI::Range(1, 30));
  std::string out_cert, out_key;
  auto* renew = app.add_subcommand("renew", "renew the presented certificate with a CSR for a new key of the probe's own");
  renew->add_option("--out-cert", out_cert)->required();
  renew->add_option("--out-key", out_key)->required();
  CLI11_PARSE(app, argc, argv);

  auto read = [](const std::string& p) { return p.empty() ? std::string() : edge::fs::ReadFile(p, 4 << 20).value_or(""); };
  auto channel = grpc::CreateCustomChannel(addr, edge::tls::ClientCredentials({read(ca), read(cert), read(key)}),
                                           edge::tls::ClientChannelArgs());
  auto stub = edge::v1::AgentService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (*push) {
    auto op = edge::v1::OperatorService::NewStub(channel);
    edge::v1::ModelVersion resp;
    auto writer = op->PushBundle(&ctx, &resp);
    edge::v1::PushBundleRequest msg;
    msg.set_envelope(read(envelope_file));
    writer->Write(msg);
    writer->WritesDone();
    return Print(writer->Finish());
  }
  if (*hello) {
    auto stream = stub->Connect(&ctx);
    edge::v1::AgentMessage msg;
    auto* m = msg.mutable_hello()->add_models();
    m->set_model(model);
    m->set_version(version);
    m->set_state("committed");
    stream->Write(msg);
    msg.Clear();
    auto* r = msg.mutable_status()->add_models();
    r->set_model(model);
    r->set_version(version);
    r->set_state("committed");
    stream->Write(msg);
    edge::v1::ControllerMessage in;
    if (stream->Read(&in)) std::cout << "desired: " << in.desired().models_size() << " model(s)" << std::endl;
    stream->WritesDone();
    return Print(stream->Finish());
  }
  if (*report) return SendReports(*stub->Connect(&ctx), times);
  if (*hostile) return Hostile(*stub, hostile_case, seconds);
  if (*renew) {
    auto key = edge::crypto::PrivateKey::GenerateP256();
    auto csr = key ? edge::crypto::CreateCsr(*key, "probe") : edge::Result<std::string>(edge::Fail(key.error()));
    if (!csr) {
      std::cerr << "cannot make a CSR: " << csr.error().message << std::endl;
      return 2;
    }
    edge::v1::RenewCertificateRequest req;
    req.set_csr_pem(*csr);
    edge::v1::RenewCertificateResponse resp;
    const auto status = stub->RenewCertificate(&ctx, req, &resp);
    if (status.ok()) {
      (void)edge::fs::WriteFileAtomic(out_cert, resp.certificate_pem());
      (void)edge::fs::WriteFileAtomic(out_key, key->ToPem().value_or(""), 0600);
    }
    return Print(status);
  }
  edge::v1::FetchBlobRequest req;
  req.set_digest(digest);
  auto reader = stub->FetchBlob(&ctx, req);
  edge::v1::BlobChunk chunk;
  uint64_t bytes = 0;
  while (reader->Read(&chunk)) bytes += chunk.data().size();
  std::cout << "bytes: " << bytes << std::endl;
  return Print(reader->Finish());
}
