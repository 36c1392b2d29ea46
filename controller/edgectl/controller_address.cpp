#include "controller/edgectl/controller_address.h"

#include "common/core/config.h"

namespace edge::edgectl {
namespace {

constexpr const char* kForms = "use host:port, [v6]:port, dns:///host:port, ipv4:addr:port or ipv6:[addr]:port";

// host:port or [host]:port; `bracketed_only`: the host must be in brackets (ipv6:).
Result<ControllerAddress> SplitHostPort(const std::string& address, const std::string& rest, bool bracketed_only) {
  auto bad = [&](const std::string& why) -> Result<ControllerAddress> {
    return Fail(ErrorCode::kInvalidArgument, "controller address '" + address + "': " + why + "; " + kForms);
  };
  ControllerAddress out;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) return bad("no ']' after the IPv6 address");
    out.host = rest.substr(1, close - 1);
    if (close + 1 >= rest.size() || rest[close + 1] != ':') return bad("no port");
    port = rest.substr(close + 2);
  } else {
    if (bracketed_only) return bad("an ipv6: address goes in brackets");
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    if (rest.find(':') != colon) return bad("an IPv6 address goes in brackets, e.g. [::1]:7445");
    out.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return bad("the port must be a number from 1 to 65535");
  const long number = std::stol(port);
  if (number < 1 || number > 65535) return bad("port " + port + " is outside 1..65535");
  out.port = std::to_string(number);
  return out;
}

}  // namespace

Result<ControllerAddress> ParseControllerAddress(const std::string& address) {
  auto starts = [&](const char* prefix) { return address.rfind(prefix, 0) == 0; };
  if (address.find(',') != std::string::npos)
    return Fail(ErrorCode::kInvalidArgument,
                "controller address '" + address + "': give one address, not a list; " + kForms);
  if (starts("dns:")) {
    std::string rest = address.substr(4);
    if (rest.rfind("//", 0) == 0) {  // dns://[resolver]/host:port
      const auto slash = rest.find('/', 2);
      if (slash == std::string::npos)
        return Fail(ErrorCode::kInvalidArgument, "controller address '" + address + "': no '/' before the host; " + kForms);
      rest = rest.substr(slash + 1);
    }
    return SplitHostPort(address, rest, false);
  }
  if (starts("ipv4:")) return SplitHostPort(address, address.substr(5), false);
  if (starts("ipv6:")) return SplitHostPort(address, address.substr(5), true);
  const auto colon = address.find(':');
  const auto scheme_end = address.find("://");
  if (scheme_end != std::string::npos && scheme_end == colon)
    return Fail(ErrorCode::kInvalidArgument, "controller address '" + address + "': edgectl does not dial '" +
                                                 address.substr(0, colon) + ":' targets; " + kForms);
  return SplitHostPort(address, address, false);
}

Result<std::vector<ControllerAddress>> ParseControllerAddresses(const std::string& list) {
  auto items = config::SplitAddressList(list);
  if (!items) return Fail(ErrorCode::kInvalidArgument, "controller addresses '" + list + "': " + items.error().message);
  std::vector<ControllerAddress> out;
  for (const auto& item : *items) {
    EDGE_ASSIGN_OR_RETURN(auto address, ParseControllerAddress(item));
    out.push_back(std::move(address));
  }
  return out;
}

}  // namespace edge::edgectl
