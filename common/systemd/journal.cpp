#include "common/systemd/journal.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>

#include <systemd/sd-journal.h>

namespace edge::systemd {
namespace {

// A decimal number that is the whole of `text`.
bool ParseDecimal(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

constexpr size_t kMaxFieldName = 64;

bool JournalSink(const log::Record& record) {
  const auto entry = JournalEntry(record, program_invocation_short_name);
  std::vector<iovec> iov;
  iov.reserve(entry.size());
  for (const auto& field : entry) iov.push_back({const_cast<char*>(field.data()), field.size()});
  return sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
}

}  // namespace

bool JournalStreamMatches(std::string_view journal_stream, uint64_t device, uint64_t inode) {
  const auto colon = journal_stream.find(':');
  if (colon == std::string_view::npos) return false;
  uint64_t dev = 0, ino = 0;
  if (!ParseDecimal(journal_stream.substr(0, colon), dev) || !ParseDecimal(journal_stream.substr(colon + 1), ino))
    return false;
  return dev == device && ino == inode;
}

bool IsJournalStream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return JournalStreamMatches(journal_stream, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
}

int SyslogPriority(log::Level level) {
  switch (level) {
    case log::Level::kDebug: return 7;
    case log::Level::kInfo: return 6;
    case log::Level::kWarn: return 4;
    case log::Level::kError: return 3;
  }
  return 6;
}

std::string JournalFieldName(std::string_view key) {
  std::string name = "EDGE_";
  for (char c : key) {
    if (name.size() == kMaxFieldName) break;
    if (c >= 'a' && c <= 'z') name += static_cast<char>(c - 'a' + 'A');
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) name += c;
    else name += '_';
  }
  return name;
}

std::vector<std::string> JournalEntry(const log::Record& record, std::string_view identifier) {
  std::vector<std::string> entry;
  entry.reserve(4 + record.fields.size());
  entry.push_back("MESSAGE=" + std::string(record.message));
  entry.push_back("PRIORITY=" + std::to_string(SyslogPriority(record.level)));
  entry.push_back("SYSLOG_IDENTIFIER=" + std::string(identifier));
  entry.push_back("EDGE_COMPONENT=" + std::string(record.component));
  for (const auto& [key, value] : record.fields.items())
    entry.push_back(JournalFieldName(key) + "=" +
                    (value.is_string() ? value.get<std::string>()
                                       : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  return entry;
}

bool LogToJournalIfConnected() {
  if (!IsJournalStream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO)) return false;
  log::SetSink(JournalSink);
  return true;
}

}  // namespace edge::systemd
