// Logs as structured journal entries when a daemon runs under systemd with its stderr connected
// to the journal (the unit's default): MESSAGE=, PRIORITY= and each log field as its own
// journal field (EDGE_DEVICE=, EDGE_OPERATOR=, ...), so `journalctl EDGE_DEVICE=gw-7a` works.
// Anywhere else the JSON lines on stderr stay.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/log.h"

namespace edge::systemd {

// Whether `journal_stream` (the value of JOURNAL_STREAM, "<device>:<inode>" in decimal) names
// the file with `device` and `inode`. systemd sets the variable for a service whose stderr
// (or stdout) is the journal; a child whose stderr was redirected inherits the variable but
// not the stream, so the variable alone proves nothing.
bool JournalStreamMatches(std::string_view journal_stream, uint64_t device, uint64_t inode);
// Whether the file open as `fd` is the journal stream named by `journal_stream` (may be null).
bool IsJournalStream(const char* journal_stream, int fd);

// syslog priority of a level: debug 7, info 6, warn 4, error 3.
int SyslogPriority(log::Level level);
// The journal field for log field `key`: "EDGE_" + the key upper-cased, every character but
// A-Z and 0-9 as '_', at most 64 bytes (journald's limit). Always a valid, non-trusted name
// (never starts with '_').
std::string JournalFieldName(std::string_view key);
// The entry for `record`, as "NAME=value" strings: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER
// (`identifier`), EDGE_COMPONENT, then one per field (strings as they are, anything else as
// JSON).
std::vector<std::string> JournalEntry(const log::Record& record, std::string_view identifier);

// If stderr is the journal stream (JOURNAL_STREAM matches it), sends every log line to the
// journal with sd_journal_sendv from now on (a line the journal refuses goes to stderr as JSON)
// and returns true. Call once at start-up, after log::Init, before other threads exist.
bool LogToJournalIfConnected();

}  // namespace edge::systemd
