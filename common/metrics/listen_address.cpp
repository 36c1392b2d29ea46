#include "common/metrics/listen_address.h"

#include <arpa/inet.h>

namespace edge::metrics {

std::string ListenAddress::ToString() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kBadConfig,
                "'" + text + "' " + why +
                    " (want a numeric host and a port, e.g. 127.0.0.1:9464 or [::1]:9464)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad("has no port");
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    return bad("has an invalid port");
  ListenAddress out;
  out.port = static_cast<uint16_t>(std::stoul(port));
  out.host = text.substr(0, colon);
  out.ipv6 = out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']';
  if (out.ipv6) {
    out.host = out.host.substr(1, out.host.size() - 2);
    in6_addr v6{};
    if (inet_pton(AF_INET6, out.host.c_str(), &v6) != 1) return bad("has an invalid IPv6 host");
    out.loopback = IN6_IS_ADDR_LOOPBACK(&v6);
  } else {
    in_addr v4{};
    if (inet_pton(AF_INET, out.host.c_str(), &v4) != 1)
      return bad("is not a numeric IPv4 host or a [IPv6] host");
    out.loopback = (ntohl(v4.s_addr) >> 24) == 127;
  }
  return out;
}

}  // namespace edge::metrics
