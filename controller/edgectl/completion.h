// `edgectl completion bash|zsh`: a shell completion script made from edgectl's own command tree,
// so it never falls behind the commands.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace edge::edgectl {

// A bash script defining completion for `edgectl`: after the commands typed so far, the
// commands and long flags of that command (and the global flags). `zsh` loads the same through
// bashcompinit.
std::string CompletionScript(CLI::App& app, const std::string& shell);

}  // namespace edge::edgectl
