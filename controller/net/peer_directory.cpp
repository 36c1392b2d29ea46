#include "controller/net/peer_directory.h"

#include <charconv>

namespace edge::controller::net {

std::string ClientAddress::ToString() const {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::optional<uint16_t> FrontPortOfGrpcPeer(std::string_view grpc_peer) {
  constexpr std::string_view kPrefix = "ipv4:127.0.0.1:";
  if (grpc_peer.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const auto digits = grpc_peer.substr(kPrefix.size());
  unsigned port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || port == 0 || port > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(port);
}

void PeerDirectory::Add(ListenerKind listener, uint16_t upstream_local_port, ClientAddress client, Closer close) {
  std::lock_guard lock(mu_);
  entries_[{static_cast<int>(listener), upstream_local_port}] = Entry{std::move(client), std::move(close)};
}

void PeerDirectory::Remove(ListenerKind listener, uint16_t upstream_local_port) {
  std::lock_guard lock(mu_);
  entries_.erase({static_cast<int>(listener), upstream_local_port});
}

std::optional<ClientAddress> PeerDirectory::OriginalPeer(ListenerKind listener, std::string_view grpc_peer) const {
  auto port = FrontPortOfGrpcPeer(grpc_peer);
  if (!port) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = entries_.find({static_cast<int>(listener), *port});
  if (it == entries_.end()) return std::nullopt;
  return it->second.client;
}

bool PeerDirectory::CloseConnection(ListenerKind listener, std::string_view grpc_peer) const {
  auto port = FrontPortOfGrpcPeer(grpc_peer);
  if (!port) return false;
  Closer close;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find({static_cast<int>(listener), *port});
    if (it == entries_.end()) return false;
    close = it->second.close;
  }
  close();  // outside the lock: it posts to the front's thread, which takes the lock to Remove
  return true;
}

size_t PeerDirectory::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace edge::controller::net
