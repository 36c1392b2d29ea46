// Commands that act on several devices chosen by a label selector (`-l`, parsed by the
// controller's one selector parser, controller/rollout/selector.h): what they will hit is listed
// first, and an action that cannot be undone needs --yes.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/core/result.h"

namespace edge::edgectl {

struct Remote;

// For On()'s usage check: exactly one of a device id and `-l SELECTOR`; `--yes` only with -l.
// Throws CLI::ValidationError (exit 2) naming `command` otherwise.
std::function<void()> RequireIdOrSelector(std::string command, const std::string& id, const std::string& selector,
                                          const bool& yes);

// Lists the devices `selector` matches (every site; revoked ones included) on stderr as
// "<verb>: -l SEL matches N device(s): a (site), ...", then, with `yes`, runs `act(id)` for each
// in that order, stopping at the first failure (the error says how many were done). Without
// `yes` nothing is done: exit 2, saying to look at the list and add --yes. No match: exit 1.
// With `json`, prints the array of what `act` returned (act prints nothing to stdout then).
int ForEachSelectedDevice(const Remote& remote, const std::string& selector, bool yes, const std::string& verb,
                          bool json, const std::function<Result<nlohmann::json>(const std::string& id)>& act);

}  // namespace edge::edgectl
