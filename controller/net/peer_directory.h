// Who is really behind a gRPC call. Behind the front, gRPC sees every connection coming from
// 127.0.0.1: ServerContext::peer() is "ipv4:127.0.0.1:<port>", where <port> is the local port
// of the front's socket to the internal listener. The front records that port for each
// connection it splices, so other code can find the original client (per-source limits, logs)
// and drop the connection behind an abusive call. Thread-safe: gRPC threads read, the front's
// thread writes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "controller/net/limits.h"

namespace edge::controller::net {

struct ClientAddress {
  std::string address;     // numeric, e.g. "203.0.113.7" or "2001:db8::1"
  uint16_t port = 0;
  std::string source_key;  // what the per-source limits count: the address, or an IPv6 /64
  std::string ToString() const;  // "203.0.113.7:5000", "[2001:db8::1]:5000"
};

// The port of a gRPC peer string on the loopback address the front connects from
// ("ipv4:127.0.0.1:54321" → 54321); nullopt for anything else.
std::optional<uint16_t> FrontPortOfGrpcPeer(std::string_view grpc_peer);

class PeerDirectory {
 public:
  using Closer = std::function<void()>;

  // The front's side (ports are the local ports of its sockets to the internal listener; they
  // are unique per listener, not across listeners, hence the kind in the key).
  void Add(ListenerKind listener, uint16_t upstream_local_port, ClientAddress client, Closer close);
  void Remove(ListenerKind listener, uint16_t upstream_local_port);

  // The client behind a call on `listener`, or nullopt if the call did not come through the
  // front (a direct connection to the internal port, e.g. the self-check) or has ended.
  std::optional<ClientAddress> OriginalPeer(ListenerKind listener, std::string_view grpc_peer) const;
  // Closes the client's connection and the front's connection to gRPC behind the call (gRPC
  // then sees the transport close and cancels the call). False when there is no such
  // connection. Returns at once; the close runs on the front's thread.
  bool CloseConnection(ListenerKind listener, std::string_view grpc_peer) const;

  size_t size() const;

 private:
  struct Entry {
    ClientAddress client;
    Closer close;
  };
  mutable std::mutex mu_;
  std::map<std::pair<int, uint16_t>, Entry> entries_;
};

}  // namespace edge::controller::net
