// Commands that act on several devices chosen by a label selector (`-l`, parsed by the
// controller's one selector parser, controller/rollout/selector.h): what they will hit is listed
// first, and an action that cannot be undone needs consent: --confirm TOKEN (the token the list
// printed: acts only if exactly those devices still match, so a label changed in between, by
// anyone, cannot widen it) or --yes (acts on whatever matches when it runs: for scripts).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/core/result.h"

namespace CLI {
class App;
}

namespace edge::edgectl {

struct Remote;

struct SelectionConsent {
  bool yes = false;
  std::string confirm;  // a token SelectionToken printed
};

// Adds --yes and --confirm TOKEN to `cmd` (`verb`: what they consent to, for the help).
void AddConsentFlags(CLI::App* cmd, SelectionConsent& consent, const std::string& verb);

// The token of a matched set: 12 hex digits of SHA-256 over each device's id and enrollment
// time, in id order (a device decommissioned and enrolled again under its name is another one).
std::string SelectionToken(std::vector<std::pair<std::string, int64_t>> devices);

// For On()'s usage check: exactly one of a device id and `-l SELECTOR`; --yes and --confirm only
// with -l, and not both. Throws CLI::ValidationError (exit 2) naming `command` otherwise.
std::function<void()> RequireIdOrSelector(std::string command, const std::string& id, const std::string& selector,
                                          const SelectionConsent& consent);

// Lists the devices `selector` matches (every site; revoked ones included) on stderr as
// "<verb>: -l SEL matches N device(s): a (site), ...", then, with consent, runs `act(id)` for
// each in that order, stopping at the first failure (the error says how many were done).
// Without consent nothing is done: exit 2, printing the --confirm token of the list. With a
// --confirm token that is not the list's: exit 1, nothing done. No match: exit 1. With `json`,
// prints the array of what `act` returned (act prints nothing to stdout then).
int ForEachSelectedDevice(const Remote& remote, const std::string& selector, const SelectionConsent& consent,
                          const std::string& verb, bool json,
                          const std::function<Result<nlohmann::json>(const std::string& id)>& act);

}  // namespace edge::edgectl
