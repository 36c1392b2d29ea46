// The connection front: the controller's public ports are accepted here, on an I/O thread of
// its own. What it adds is what gRPC 1.51 lacks: caps on connections, a per-source accept
// rate, a deadline for a new connection's first bytes, an accept loop that survives
// EMFILE/ENFILE (gRPC's stops for good on them), and, on the connections it splices, an idle
// limit, a bounded buffer per connection and a bound on rapid reset.
//
// Once a connection's first bytes arrive the front passes it on, one of two ways:
// - handed off (AddHandoffListener; the agent listener): the socket itself and the bytes read
//   so far go to gRPC, which does TLS and HTTP/2 from there (an external connection acceptor).
//   One descriptor per connection. The front keeps its admission slot until it sees the
//   socket closed (handed_off.h: a periodic SO_COOKIE check); idle and handshake limits are
//   gRPC's from then on.
// - spliced (AddListener): the front connects to the gRPC server's internal port on 127.0.0.1
//   and copies bytes both ways (three descriptors). TLS stays end to end (the operator
//   listener: gRPC needs the client certificate), or, with TlsTermination (enrollment), the
//   front terminates TLS and guards HTTP/2 (H2Guard).
//
// An admitted connection costs one descriptor until its first bytes arrive. Idle TCP floods
// never reach gRPC.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/core/result.h"
#include "controller/net/h2_guard.h"
#include "controller/net/limits.h"
#include "controller/net/listen_address.h"
#include "controller/net/peer_directory.h"
#include "controller/net/web.h"

namespace edge::controller::net {

// A listener whose TLS the front terminates (the enrollment listener: server TLS only, no
// client identity to pass on). The front then sees the HTTP/2 frames and runs an H2Guard on
// what each client sends, and forwards HTTP/2 in clear to the internal port. The certificate
// and key files are re-read when they change.
struct TlsTermination {
  std::string cert_file;
  std::string key_file;
  H2GuardLimits guard;
  // Replaces the idle limit on this listener; a connection that has opened no stream by the
  // time it fires is closed even if it sent bytes (PINGs, SETTINGS, WINDOW_UPDATEs).
  int64_t idle_timeout_ms = 10000;
};

struct FrontStats {
  int64_t active = 0;           // connections held now (probes excluded)
  int64_t accepted = 0;         // admitted since start
  int64_t refused = 0;          // closed at once by a limit
  int64_t timed_out = 0;        // cut by the first-bytes or idle limit
  int64_t accept_errors = 0;    // accept() failures (EMFILE, ENFILE, ...), each followed by a pause
  int64_t upstream_failures = 0;
  int64_t guard_closed = 0;     // cut by the HTTP/2 guard (TLS-terminated listeners)
  int64_t handed_off = 0;       // of `active`: handed to gRPC and not yet seen closed
};

// Takes over a connection the front accepted: `fd` belongs to the callee from the call on, and
// `first_bytes` are what the front already read from it. `listener_fd` is the public
// listener's socket. Runs on the front's thread.
using Handoff = std::function<void(int listener_fd, int fd, std::string first_bytes)>;

class ConnectionFront {
 public:
  explicit ConnectionFront(const ConnectionLimits& limits);
  ~ConnectionFront();  // Stop()
  ConnectionFront(const ConnectionFront&) = delete;
  ConnectionFront& operator=(const ConnectionFront&) = delete;

  // Binds `public_address` and splices what it accepts to 127.0.0.1:`internal_port`. Returns
  // the bound public endpoint (its real port when the address asked for 0). Before Start().
  // With `tls`, the front terminates TLS and guards HTTP/2 (errors: kBadConfig naming the file).
  // With `web`, clients that offer HTTP/1.1 are served by the front (web.h); the others are
  // spliced with their TLS intact.
  Result<ListenEndpoint> AddListener(ListenerKind kind, const std::string& public_address, uint16_t internal_port,
                                     const std::optional<TlsTermination>& tls = std::nullopt,
                                     const std::optional<WebTermination>& web = std::nullopt);

  // Binds `public_address` and hands each admitted connection, once its first bytes arrived,
  // to `handoff`. Before Start().
  Result<ListenEndpoint> AddHandoffListener(ListenerKind kind, const std::string& public_address, Handoff handoff);

  void Start();  // starts the I/O thread
  // Closes the public ports; connections already spliced go on (gRPC drains them). Once it
  // returns nothing more is handed off (a connection still waiting for its first bytes is
  // closed instead), so the handoff's target may be shut down.
  void StopAccepting();
  // Closes everything and joins the I/O thread. Idempotent.
  void Stop();

  // Thread-safe.
  const PeerDirectory& peers() const;
  FrontStats stats() const;
  // The self-check's probe: the next connection from exactly this local endpoint passes
  // without limits (an attacker holding every slot must not make the controller look dead).
  void ExpectProbe(const ListenEndpoint& from);
  void ForgetProbe(const ListenEndpoint& from);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::controller::net
