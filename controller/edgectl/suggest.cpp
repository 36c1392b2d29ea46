#include "controller/edgectl/suggest.h"

#include <algorithm>
#include <utility>

namespace edge::edgectl {

size_t EditDistance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::vector<std::string> Suggest(const std::string& word, const std::vector<std::string>& candidates) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& c : candidates) {
    const size_t distance = EditDistance(word, c);
    const bool prefix = word.size() >= 2 && (c.rfind(word, 0) == 0 || word.rfind(c, 0) == 0);
    if (distance <= 2 || prefix) scored.emplace_back(prefix ? std::min<size_t>(distance, 1) : distance, c);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (auto& [_, name] : scored) out.push_back(std::move(name));
  return out;
}

namespace {

// The option named by `token` ("--context", "-o", "--context=x") in `app` or, as edgectl's
// global flags fall through, in a parent.
const CLI::Option* FindOption(const CLI::App* app, const std::string& token) {
  const std::string name = token.substr(0, token.find('='));
  for (; app != nullptr; app = app->get_parent())
    if (const CLI::Option* o = app->get_option_no_throw(name)) return o;
  return nullptr;
}

}  // namespace

std::string UnknownCommandMessage(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* at = &app;
  std::string path = "edgectl";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& token = args[i];
    if (token == "--") return {};
    if (token.size() > 1 && token[0] == '-') {
      // A flag: skip the value of an option that takes one ("--context x"), not "--context=x".
      const CLI::Option* o = FindOption(at, token);
      if (o != nullptr && o->get_type_size_max() > 0 && token.find('=') == std::string::npos) ++i;
      continue;
    }
    std::vector<std::string> names;
    CLI::App* next = nullptr;
    for (CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; })) {
      if (sub->get_name().empty()) continue;
      names.push_back(sub->get_name());
      if (sub->check_name(token)) next = sub;
    }
    if (next != nullptr) {
      at = next;
      path += " " + token;
      continue;
    }
    // A word that is not a command: an error only where a command must come (else it is an
    // argument, e.g. a device id).
    if (at->get_require_subcommand_min() == 0 || names.empty()) return {};
    std::string message = "unknown command '" + token + "' for '" + path + "'";
    const auto close = Suggest(token, names);
    if (!close.empty()) {
      message += "; did you mean";
      for (size_t k = 0; k < close.size() && k < 3; ++k) message += (k == 0 ? " '" : " or '") + close[k] + "'";
      message += "?";
    } else {
      std::sort(names.begin(), names.end());
      message += "; commands:";
      for (const auto& n : names) message += " " + n;
    }
    return message;
  }
  return {};
}

}  // namespace edge::edgectl
