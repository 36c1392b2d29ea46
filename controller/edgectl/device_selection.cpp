#include "controller/edgectl/device_selection.h"

#include <iostream>

#include <CLI/CLI.hpp>

#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/operator_call.h"
#include "controller/edgectl/output.h"

namespace edge::edgectl {

namespace pb = edge::v1;

std::function<void()> RequireIdOrSelector(std::string command, const std::string& id, const std::string& selector,
                                          const bool& yes) {
  return [command = std::move(command), &id, &selector, &yes] {
    if (id.empty() == selector.empty())
      throw CLI::ValidationError(command, "give a device ID or -l SELECTOR (one of the two)");
    if (yes && selector.empty()) throw CLI::ValidationError(command, "--yes goes with -l SELECTOR (one device ID needs none)");
  };
}

int ForEachSelectedDevice(const Remote& remote, const std::string& selector, bool yes, const std::string& verb,
                          bool json, const std::function<Result<nlohmann::json>(const std::string& id)>& act) {
  pb::ListDevicesRequest req;
  req.set_selector(selector);
  pb::ListDevicesResponse resp;
  if (auto s = Call(remote, "list devices", [&](auto& stub, auto& ctx) { return stub.ListDevices(&ctx, req, &resp); }); !s)
    return Report(s.error());
  if (resp.devices().empty())
    return Report({ErrorCode::kNotFound, "no device matches -l " + selector + ": nothing to " + verb});
  std::string list;
  for (const auto& d : resp.devices()) list += (list.empty() ? "" : ", ") + d.id() + " (" + d.site() + ")";
  WriteLine(std::cerr, verb + ": -l " + selector + " matches " + std::to_string(resp.devices_size()) + " device(s): " + list);
  if (!yes) {
    WriteLine(std::cerr, "edgectl: not done: " + verb + " by selector needs --yes; check the list above, then run "
                         "the same command with --yes");
    return kExitUsage;
  }
  nlohmann::json done = nlohmann::json::array();
  for (const auto& d : resp.devices()) {
    auto one = act(d.id());
    if (!one) {
      const std::string so_far = std::to_string(done.size()) + " of " + std::to_string(resp.devices_size());
      if (json) PrintJson(done);
      return Report(one.error().Wrap("stopped after " + so_far + " device(s), at " + d.id()));
    }
    done.push_back(std::move(*one));
  }
  if (json) PrintJson(done);
  return kExitOk;
}

}  // namespace edge::edgectl
