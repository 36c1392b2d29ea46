// What an operator sends for a rollout target and labels (CreateRollout, LabelDevice, the
// strategy's amounts): label selectors, label edits and amounts. Properties: nothing crashes;
// a parsed selector's keys and values pass the label checks and matching is deterministic; a
// refusal says why without echoing control bytes (messages reach terminals).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "controller/rollout/rollout.h"
#include "controller/rollout/selector.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edge;
namespace ro = edge::controller::rollout;

namespace {

void CleanMessage(const Error& e, std::string_view who) {
  if (e.message.empty()) fuzz::Die(who, "an error with no message");
  for (unsigned char c : e.message)
    if (c < 0x20 || c == 0x7f) fuzz::Die(who, "a control byte in the message: " + e.message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  auto selector = ro::Selector::Parse(text);
  if (selector) {
    ro::Labels labels;
    for (const auto& r : selector->requirements()) {
      if (!ro::CheckLabelKey(r.key)) fuzz::Die("Selector::Parse", "accepted a bad key");
      if (!ro::CheckLabelValue(r.value)) fuzz::Die("Selector::Parse", "accepted a bad value");
      labels[r.key] = r.value;
    }
    if (selector->Matches(labels) != selector->Matches(labels)) fuzz::Die("Selector::Matches", "not deterministic");
  } else {
    CleanMessage(selector.error(), "Selector::Parse");
  }

  // The same bytes as command-line label edits, split at spaces.
  std::vector<std::string> args;
  for (size_t pos = 0; pos <= text.size();) {
    const size_t sp = text.find(' ', pos);
    args.push_back(text.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos));
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  auto edits = ro::ParseLabelEdits(args);
  if (edits) {
    for (const auto& [k, v] : edits->set)
      if (!ro::CheckLabelKey(k) || !ro::CheckLabelValue(v)) fuzz::Die("ParseLabelEdits", "accepted a bad label");
  } else {
    CleanMessage(edits.error(), "ParseLabelEdits");
  }

  auto amount = ro::ParseAmount(text);
  if (amount) {
    if (amount->IsZero() && amount->is_percent) fuzz::Die("ParseAmount", "accepted a zero percentage");
    if (amount->Of(10) > 10) fuzz::Die("ParseAmount", "an amount above its set");
  } else {
    CleanMessage(amount.error(), "ParseAmount");
  }
  return 0;
}
