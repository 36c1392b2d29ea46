#include "controller/net/listen_collision.h"

#include <boost/asio/ip/address.hpp>

#include <optional>

#include "controller/net/front.h"

namespace edge::controller::net {
namespace {

namespace ip = boost::asio::ip;

struct Parsed {
  ip::address address;
  uint16_t port = 0;
};

std::optional<Parsed> Parse(const std::string& text) {
  auto endpoint = ParseListenAddress(text);
  if (!endpoint) return std::nullopt;
  boost::system::error_code ec;
  auto address = ip::make_address(endpoint->address, ec);
  if (ec) return std::nullopt;
  // ::ffff:127.0.0.1 is 127.0.0.1 to the kernel.
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = ip::make_address_v4(ip::v4_mapped, address.to_v6());
  return Parsed{address, endpoint->port};
}

// Why `a` and `b` cannot both be bound, or nothing.
std::optional<std::string> Collision(const Parsed& a, const Parsed& b) {
  if (a.port == 0 || a.port != b.port) return std::nullopt;
  if (a.address == b.address) return "the same address";
  for (const auto& [wide, other] : {std::pair{a, b}, std::pair{b, a}}) {
    if (!wide.address.is_unspecified()) continue;
    if (wide.address.is_v6()) return "[::] takes the port on every address of this host, IPv4 ones too";
    if (other.address.is_v4()) return "0.0.0.0 takes the port on every IPv4 address of this host";
  }
  return std::nullopt;
}

}  // namespace

Status CheckDistinctListenAddresses(const std::vector<NamedListenAddress>& listeners) {
  for (size_t i = 0; i < listeners.size(); ++i) {
    const auto a = Parse(listeners[i].address);
    if (!a) continue;
    for (size_t j = i + 1; j < listeners.size(); ++j) {
      const auto b = Parse(listeners[j].address);
      if (!b) continue;
      if (auto why = Collision(*a, *b))
        return Fail(ErrorCode::kBadConfig, listeners[i].key + " " + listeners[i].address + " and " + listeners[j].key + " " +
                                               listeners[j].address + " collide (" + *why + "): each listener needs an " +
                                               "address and port of its own");
    }
  }
  return Ok();
}

}  // namespace edge::controller::net
