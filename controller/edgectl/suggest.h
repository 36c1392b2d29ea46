// "unknown command 'gett' for 'edgectl'; did you mean 'get'?" instead of CLI11's "A subcommand
// is required": a mistyped command word is found by walking the command line through the
// command tree the way CLI11 would.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace edge::edgectl {

// Edit distance (insertions, deletions, substitutions, adjacent swaps).
size_t EditDistance(const std::string& a, const std::string& b);

// The names in `candidates` closest to `word` (distance ≤ 2, or `word` a prefix of it, or it a
// prefix of `word`), best first.
std::vector<std::string> Suggest(const std::string& word, const std::vector<std::string>& candidates);

// When `args` (argv without the program name) name a command group of `app` and then a word
// that is none of its commands, the message for it; empty otherwise (the parse error CLI11
// gave is then the one to show).
std::string UnknownCommandMessage(CLI::App& app, const std::vector<std::string>& args);

}  // namespace edge::edgectl
