// The controller address of a context or --controller, in the forms gRPC takes for a TCP
// target: host:port, [v6]:port, dns:///host:port (dns://resolver/host:port, dns:host:port),
// ipv4:addr:port and ipv6:[addr]:port. Checked before dialing, so that a port gRPC would
// only report as "unavailable" (0, 70000) is a configuration error naming the address.
#pragma once

#include <string>
#include <vector>

#include "common/core/result.h"

namespace edge::edgectl {

struct ControllerAddress {
  std::string host;  // a DNS name or an IP address, without brackets
  std::string port;  // decimal, 1 to 65535
};

// kInvalidArgument, naming `address` and the forms it may take, for anything else (no port, a
// port outside 1..65535, an empty host, another scheme, a list of several addresses).
Result<ControllerAddress> ParseControllerAddress(const std::string& address);
// Several controllers sharing one database, tried in turn: "a:7445,b:7445" (each in a form
// above). kInvalidArgument naming the item that is wrong, an empty item or a repeat.
Result<std::vector<ControllerAddress>> ParseControllerAddresses(const std::string& list);

}  // namespace edge::edgectl
