#include "controller/net/listen_address.h"

#include <boost/asio/ip/address.hpp>

#include <charconv>
#include <optional>

namespace edge::controller::net {

namespace ip = boost::asio::ip;

Result<ListenEndpoint> ParseListenAddress(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kBadConfig, "listen address '" + text + "': " + why);
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return bad("expected host:port");
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return bad("the port must be a number from 0 to 65535");
  boost::system::error_code aec;
  auto address = ip::make_address(host, aec);
  if (aec) return bad("the host must be a numeric IPv4 address, [IPv6] address or localhost");
  return ListenEndpoint{address.to_string(), static_cast<uint16_t>(port)};
}

namespace {

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
