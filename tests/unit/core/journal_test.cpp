#include "common/systemd/journal.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "core/temp_dir.h"

namespace sd = edge::systemd;
namespace elog = edge::log;
using edge::testing::TempDir;

// journald is not running on the build machines: these tests cover the mapping and the
// JOURNAL_STREAM check, not delivery to a journal.

TEST_CASE("JOURNAL_STREAM matches only the exact device and inode", "[journal]") {
  CHECK(sd::JournalStreamMatches("64769:123456", 64769, 123456));
  CHECK_FALSE(sd::JournalStreamMatches("64769:123456", 64769, 123457));
  CHECK_FALSE(sd::JournalStreamMatches("64768:123456", 64769, 123456));
  for (const char* bad : {"", ":", "64769", "64769:", ":123456", "64769:123456:1", "64769:12x", " 64769:123456",
                          "-1:123456", "64769:123456 ", "99999999999999999999999:1"})
    CHECK_FALSE(sd::JournalStreamMatches(bad, 64769, 123456));
}

TEST_CASE("IsJournalStream compares JOURNAL_STREAM with the open file", "[journal]") {
  TempDir dir;
  const int fd = ::open((dir / "stream").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int other = ::open((dir / "other").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(other >= 0);
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  const std::string value = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  CHECK(sd::IsJournalStream(value.c_str(), fd));
  CHECK_FALSE(sd::IsJournalStream(value.c_str(), other));  // stderr redirected by a parent
  CHECK_FALSE(sd::IsJournalStream(nullptr, fd));           // not under systemd
  CHECK_FALSE(sd::IsJournalStream(value.c_str(), -1));
  ::close(fd);
  ::close(other);
}

TEST_CASE("Journal field names are valid and prefixed", "[journal]") {
  CHECK(sd::JournalFieldName("device") == "EDGE_DEVICE");
  CHECK(sd::JournalFieldName("internal_port") == "EDGE_INTERNAL_PORT");
  CHECK(sd::JournalFieldName("fds-needed.x") == "EDGE_FDS_NEEDED_X");
  CHECK(sd::JournalFieldName("_SYSTEMD_UNIT") == "EDGE__SYSTEMD_UNIT");  // never a trusted field
  CHECK(sd::JournalFieldName("MESSAGE") == "EDGE_MESSAGE");               // never replaces ours
  CHECK(sd::JournalFieldName("caf\xc3\xa9\n=") == "EDGE_CAF____");
  const auto longest = sd::JournalFieldName(std::string(200, 'k'));
  CHECK(longest.size() == 64);
  for (const auto& key : {std::string("a b"), std::string("x=y"), std::string(""), std::string("9lives")}) {
    const auto name = sd::JournalFieldName(key);
    CHECK(name.rfind("EDGE_", 0) == 0);
    CHECK(std::all_of(name.begin(), name.end(),
                      [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }));
  }
}

TEST_CASE("Levels map to syslog priorities", "[journal]") {
  CHECK(sd::SyslogPriority(elog::Level::kDebug) == 7);
  CHECK(sd::SyslogPriority(elog::Level::kInfo) == 6);
  CHECK(sd::SyslogPriority(elog::Level::kWarn) == 4);
  CHECK(sd::SyslogPriority(elog::Level::kError) == 3);
}

TEST_CASE("A journal entry carries the message and every field", "[journal]") {
  const nlohmann::json fields = {{"device", "gw-7a"}, {"port", 7443}, {"ok", true}, {"ports", {{"agent", 1}}},
                                 {"error", "two\nlines"}};
  const elog::Record record{elog::Level::kWarn, "controller", "operator call refused", fields};
  const auto entry = sd::JournalEntry(record, "edge-controller");
  const std::vector<std::string> want = {"MESSAGE=operator call refused", "PRIORITY=4",
                                         "SYSLOG_IDENTIFIER=edge-controller", "EDGE_COMPONENT=controller",
                                         "EDGE_DEVICE=gw-7a", "EDGE_ERROR=two\nlines", "EDGE_OK=true",
                                         "EDGE_PORT=7443", "EDGE_PORTS={\"agent\":1}"};
  CHECK(entry == want);
}
