// How long connections to the controller may take to set up, on both ends. Constants only
// (no gRPC), so that config parsers can check values against them.
#pragma once

#include <chrono>
#include <string_view>

namespace edge::tls {

// What setting up a connection (TCP connect, TLS handshake, the server's HTTP/2 SETTINGS) can
// take for a gateway with a Raspberry Pi-class CPU on a cellular link (docs/operations.md,
// "Slow devices and links"):
//   3 round trips at 300 ms (TCP; TLS 1.3 with a client certificate; HTTP/2 preface and
//   SETTINGS)                                                                     0.9 s
//   the handshake's P-256 operations on a busy or throttled Pi-class core          0.5 s
//   a cellular radio waking from idle                                              2 s
//   one lost segment (TCP's initial retransmission timeout)                        1 s
// 4.4 s, rounded up.
inline constexpr std::chrono::milliseconds kSlowClientSetupTime{5000};

// How long one client connection attempt may take, all of the above: twice the slow client's
// need. gRPC gives an attempt at least 100 ms whatever it is asked.
inline constexpr std::chrono::milliseconds kDefaultConnectTimeout = 2 * kSlowClientSetupTime;
inline constexpr std::chrono::milliseconds kMinConnectTimeout{100};
inline constexpr std::chrono::milliseconds kMaxConnectTimeout{60000};

// What every "no connection within the connect timeout" message says after the timeout, so
// that the agent's log and each of edgectl's errors read alike whichever step ran out.
inline constexpr std::string_view kConnectTimeoutTooShort =
    "too short for this link? Setting one up takes TCP, TLS and HTTP/2, about three round trips";

// Whether a call that failed as unreachable `elapsed` after it started most likely failed because
// its connection attempt ran out of `connect_timeout`: gRPC fails waiting calls as soon as it cuts
// the attempt. gRPC's own words for that ("Handshake read failed", "Deadline Exceeded") do not
// tell a timeout from a peer that hung up, so callers use this to name the setting to raise.
inline bool EndedByConnectTimeout(std::chrono::steady_clock::duration elapsed, std::chrono::milliseconds connect_timeout) {
  return elapsed >= connect_timeout && elapsed < connect_timeout + std::chrono::seconds(1);
}

// What the controller's gRPC server gives a TLS handshake, and the client's HTTP/2 SETTINGS,
// counted from the ClientHello. A slow client that the default connect timeout serves must
// not be cut here first; and it must stay short, since it is what ends a slow-loris client
// that trickles its handshake (tests/integration/slow_link_test.sh).
inline constexpr std::chrono::milliseconds kServerHandshakeTimeout{10000};
static_assert(kServerHandshakeTimeout >= kDefaultConnectTimeout,
              "the server must give a handshake at least what a default client waits for");

}  // namespace edge::tls
