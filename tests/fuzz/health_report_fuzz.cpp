// The controller's handling of an agent's status report (controller/api/agent_service.cpp):
// the bytes are parsed as edge.v1.StatusReport exactly as gRPC would (ParseFromArray, which
// also enforces proto3's UTF-8 rule), then CheckHealth and CheckEvents run on it and the kept
// health record goes through the store's JSON form and back. Properties: what the checks keep
// obeys the limits health_report.h documents, its strings are valid UTF-8, and the stored JSON
// round-trips.
#include <google/protobuf/stubs/logging.h>

#include <cmath>
#include <cstdint>

#include "controller/api/health_report.h"
#include "controller/store/health_json.h"
#include "common/crypto/x509.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edge;
using namespace edge::controller;

namespace {

void CheckKeptHealth(const HealthRecord& h) {
  if (h.models.size() > kMaxHealthModels) fuzz::Die("CheckHealth kept more than 64 models");
  if (!std::isfinite(h.cpu_percent) || h.cpu_percent < 0) fuzz::Die("CheckHealth kept a bad cpu_percent");
  for (const auto& m : h.models) {
    if (!crypto::IsValidLabel(m.model)) fuzz::Die("CheckHealth kept an invalid model name");
    if (m.latency_bucket_upper_us.size() > kMaxLatencyBuckets) fuzz::Die("CheckHealth kept too many buckets");
    if (m.last_selftest.size() > kMaxSelftestText || !fuzz::IsValidUtf8(m.last_selftest))
      fuzz::Die("CheckHealth kept a bad last_selftest");
    if (!std::isfinite(m.p50_us) || !std::isfinite(m.p99_us)) fuzz::Die("CheckHealth kept a non-finite latency");
  }
  const std::string json = HealthToJson(h);
  auto back = HealthFromJson(json);
  if (!back) fuzz::Die("the stored health JSON does not read back", back.error().message);
  if (HealthToJson(*back) != json) fuzz::Die("the stored health JSON does not round-trip");
  (void)HealthToJson(HistorySample(h));
}

void CheckKeptEvents(const std::vector<UpdateEventRecord>& events) {
  if (events.size() > kMaxEventsPerReport) fuzz::Die("CheckEvents kept more than 256 events");
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    if (i > 0 && events[i - 1].seq >= e.seq) fuzz::Die("CheckEvents kept events out of seq order or twice");
    if (e.seq == 0 || e.seq > static_cast<uint64_t>(INT64_MAX)) fuzz::Die("CheckEvents kept a bad seq");
    if (e.reason.size() > kMaxEventReason || !fuzz::IsValidUtf8(e.reason)) fuzz::Die("CheckEvents kept a bad reason");
    if (!crypto::IsValidLabel(e.model) || !crypto::IsValidLabel(e.version))
      fuzz::Die("CheckEvents kept an invalid model or version");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs each string field with invalid UTF-8 at ERROR; the parse result is what counts.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // TruncateUtf8 on raw bytes: a prefix, never longer than asked, valid if the input was.
  const auto raw = fuzz::AsText(data, size);
  const auto cut = TruncateUtf8(raw, size / 2);
  if (cut.size() > size / 2) fuzz::Die("TruncateUtf8 returned too many bytes");
  if (raw.substr(0, cut.size()) != cut) fuzz::Die("TruncateUtf8 did not return a prefix");
  if (fuzz::IsValidUtf8(raw) && !fuzz::IsValidUtf8(cut)) fuzz::Die("TruncateUtf8 split a UTF-8 sequence");

  edge::v1::StatusReport report;
  if (!report.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto health = CheckHealth(report.health(), fuzz::kNow);
  if (health.value) CheckKeptHealth(*health.value);
  auto events = CheckEvents(report.events());
  CheckKeptEvents(events.value);
  return 0;
}
