#include "controller/edgectl/device_selection.h"

#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/crypto/sha256.h"
#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/operator_call.h"
#include "controller/edgectl/output.h"

namespace edge::edgectl {

namespace pb = edge::v1;

void AddConsentFlags(CLI::App* cmd, SelectionConsent& consent, const std::string& verb) {
  cmd->add_option("--confirm", consent.confirm,
                  "with -l: " + verb + " the devices listed before, if exactly they still match (the token the list printed)");
  cmd->add_flag("--yes", consent.yes, "with -l: " + verb + " whatever matches when it runs (for scripts)");
}

std::string SelectionToken(std::vector<std::pair<std::string, int64_t>> devices) {
  std::sort(devices.begin(), devices.end());
  std::string text;
  for (const auto& [id, enrolled_at] : devices) text += id + "\t" + std::to_string(enrolled_at) + "\n";
  return crypto::Sha256Hex(text).substr(0, 12);
}

std::function<void()> RequireIdOrSelector(std::string command, const std::string& id, const std::string& selector,
                                          const SelectionConsent& consent) {
  return [command = std::move(command), &id, &selector, &consent] {
    if (id.empty() == selector.empty())
      throw CLI::ValidationError(command, "give a device ID or -l SELECTOR (one of the two)");
    if ((consent.yes || !consent.confirm.empty()) && selector.empty())
      throw CLI::ValidationError(command, "--yes and --confirm go with -l SELECTOR (one device ID needs neither)");
    if (consent.yes && !consent.confirm.empty())
      throw CLI::ValidationError(command, "give --confirm TOKEN or --yes, not both");
  };
}

int ForEachSelectedDevice(const Remote& remote, const std::string& selector, const SelectionConsent& consent,
                          const std::string& verb, bool json,
                          const std::function<Result<nlohmann::json>(const std::string& id)>& act) {
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
  std::vector<std::pair<std::string, int64_t>> matched;
  for (const auto& d : resp.devices()) matched.emplace_back(d.id(), d.enrolled_at());
  const std::string token = SelectionToken(std::move(matched));
  if (!consent.yes && consent.confirm.empty()) {
    WriteLine(std::cerr, "edgectl: not done: check the list above, then run the same command with --confirm " + token +
                             " to " + verb + " exactly these devices");
    return kExitUsage;
  }
  if (!consent.confirm.empty() && consent.confirm != token)
    return Report({ErrorCode::kFailedPrecondition,
                   "not done: the devices -l " + selector + " matches are not the ones confirmed (their token is now " +
                       token + ", not " + consent.confirm + "): check the list above and confirm again"});
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
