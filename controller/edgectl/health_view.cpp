#include "controller/edgectl/health_view.h"

#include <cstdio>

#include "controller/edgectl/output.h"

namespace edge::edgectl {
namespace {

namespace pb = edge::v1;

nlohmann::json HealthJson(const pb::DeviceHealth& h) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : h.models()) {
    nlohmann::json jm = {{"model", m.model()},           {"version", m.version()}, {"state", m.state()},
                         {"inferences", m.inferences()}, {"errors", m.errors()},   {"p50_us", m.p50_us()},
                         {"p99_us", m.p99_us()}};
    if (m.latency_counts_size() > 0)
      jm["latency"] = {{"bucket_upper_us", std::vector<uint64_t>(m.latency_bucket_upper_us().begin(),
                                                                 m.latency_bucket_upper_us().end())},
                       {"counts", std::vector<uint64_t>(m.latency_counts().begin(), m.latency_counts().end())}};
    if (m.last_selftest_at() != 0 || !m.last_selftest().empty()) {
      jm["last_selftest"] = m.last_selftest();
      jm["last_selftest_at"] = m.last_selftest_at();
    }
    models.push_back(std::move(jm));
  }
  return {{"unix_time", h.unix_time()},         {"received_at", h.received_at()},
          {"cpu_percent", h.cpu_percent()},     {"rss_bytes", h.rss_bytes()},
          {"disk_free_bytes", h.disk_free_bytes()}, {"uptime_seconds", h.uptime_seconds()},
          {"models", std::move(models)}};
}

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v);
  return buf;
}

// The device's clock when it gave one, else when the controller received the report.
int64_t SampleTime(const pb::DeviceHealth& h) { return h.unix_time() != 0 ? h.unix_time() : h.received_at(); }

std::string SelftestCell(const pb::ModelHealthView& m) {
  if (m.last_selftest().empty() && m.last_selftest_at() == 0) return "-";
  std::string out = m.last_selftest().empty() ? "ran" : m.last_selftest();
  if (m.last_selftest_at() != 0) out += " (" + FormatTime(m.last_selftest_at()) + ")";
  return out;
}

// "kws 1234/0/850us, vib 10/1/2.1ms": inferences/errors/p99 per model.
std::string ModelsSampleCell(const pb::DeviceHealth& h) {
  std::string out;
  for (const auto& m : h.models()) {
    if (!out.empty()) out += ", ";
    out += m.model() + " " + std::to_string(m.inferences()) + "/" + std::to_string(m.errors()) + "/" +
           FormatMicros(m.p99_us());
  }
  return out.empty() ? "-" : out;
}

void Table(std::ostream& out, const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  out << FormatTable(headers, rows, "  ");
}

}  // namespace

void AddHealthJson(const pb::DeviceDetail& detail, nlohmann::json& out) {
  out["health"] = detail.has_health() ? HealthJson(detail.health()) : nlohmann::json();
  nlohmann::json history = nlohmann::json::array();
  for (const auto& h : detail.health_history()) history.push_back(HealthJson(h));
  out["health_history"] = std::move(history);
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : detail.events())
    events.push_back({{"seq", e.seq()},
                      {"model", e.model()},
                      {"version", e.version()},
                      {"outcome", e.outcome()},
                      {"reason", e.reason()},
                      {"unix_time", e.unix_time()},
                      {"offline_install", e.offline_install()},
                      {"received_at", e.received_at()}});
  out["events"] = std::move(events);
}

void PrintHealthSections(const pb::DeviceDetail& detail, int64_t now, std::ostream& out) {
  if (!detail.has_health()) {
    out << "Health:         none reported yet\n";
  } else {
    const auto& h = detail.health();
    out << "Health:         reported " << FormatTime(SampleTime(h)) << " (" << FormatAge(h.received_at(), now)
        << " ago)\n"
        << "  CPU " << Percent(h.cpu_percent()) << ", RSS " << FormatBytes(h.rss_bytes()) << ", disk free "
        << FormatBytes(h.disk_free_bytes()) << ", uptime " << FormatDuration(static_cast<int64_t>(h.uptime_seconds()))
        << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : h.models())
      rows.push_back({m.model(), m.version().empty() ? "-" : m.version(), m.state().empty() ? "-" : m.state(),
                      std::to_string(m.inferences()), std::to_string(m.errors()), FormatMicros(m.p50_us()),
                      FormatMicros(m.p99_us()), SelftestCell(m)});
    if (!rows.empty())
      Table(out, {"MODEL", "VERSION", "STATE", "INFERENCES", "ERRORS", "P50", "P99", "LAST SELF-TEST"}, rows);
  }
  if (detail.health_history_size() > 0) {
    out << "Health history (newest first):\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& h : detail.health_history())
      rows.push_back({FormatTime(SampleTime(h)), Percent(h.cpu_percent()), FormatBytes(h.rss_bytes()),
                      ModelsSampleCell(h)});
    Table(out, {"TIME", "CPU", "RSS", "MODELS (INFERENCES/ERRORS/P99)"}, rows);
  }
  if (detail.events_size() == 0) {
    out << "Update events:  none\n";
    return;
  }
  out << "Update events (newest first):\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : detail.events())
    rows.push_back({FormatTime(e.unix_time()), e.model(), e.version(),
                    e.outcome() + (e.offline_install() ? " (offline install)" : ""), e.reason().empty() ? "-" : e.reason()});
  Table(out, {"TIME", "MODEL", "VERSION", "OUTCOME", "REASON"}, rows);
}

void PrintDeviceDetail(const pb::DeviceDetail& detail, int64_t now, std::ostream& out) {
  const auto& d = detail.device();
  // One WriteLine per line: a newline or escape sequence in any of these fields is shown, not
  // obeyed, so it cannot forge a line of this view.
  WriteLine(out, "Device:         " + d.id());
  WriteLine(out, "Site:           " + d.site());
  WriteLine(out, "Status:         " + std::string(d.online() ? "online" : "offline") + " (last seen " +
                     FormatAge(d.last_seen(), now) + " ago)");
  WriteLine(out, "Agent version:  " + (d.agent_version().empty() ? "-" : d.agent_version()));
  WriteLine(out, "Enrolled:       " + FormatTime(d.enrolled_at()));
  WriteLine(out, "Certificate:    serial " + detail.cert_serial() + ", expires " + FormatTime(d.cert_not_after()));
  WriteLine(out, "Facts:          " + detail.facts_json());
  WriteLine(out, "Models:");
  for (const auto& m : d.models()) {
    std::string line = "  " + m.model() + ": running " + (m.reported_version().empty() ? "-" : m.reported_version()) +
                       ", desired " + (m.desired_version().empty() ? "-" : m.desired_version()) + ", state " +
                       (m.state().empty() ? "pending" : m.state());
    if (!m.detail().empty()) line += " (" + m.detail() + ")";
    WriteLine(out, line);
  }
  PrintHealthSections(detail, now, out);
  WriteLine(out, "Recent audit:");
  for (const auto& a : detail.recent_audit())
    WriteLine(out, "  " + FormatTime(a.at()) + "  " + a.action() + "  " + a.actor() + "  " + a.detail());
}

}  // namespace edge::edgectl
