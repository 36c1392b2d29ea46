#include "controller/edgectl/delete_cmd.h"

#include <iostream>
#include <memory>

#include "controller/edgectl/device_selection.h"
#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/identity_cmd.h"
#include "controller/edgectl/operator_call.h"
#include "controller/edgectl/output.h"

namespace edge::edgectl {
namespace {

namespace pb = edge::v1;

struct Args {
  std::string id, name, reason, selector;
  SelectionConsent consent;
  bool ignore_not_found = false;
};

Result<nlohmann::json> DeleteSite(const Remote& r, const std::string& name, const std::string& reason, bool json) {
  pb::DeleteSiteRequest req;
  req.set_name(name);
  req.set_reason(reason);
  pb::DeleteSiteResponse resp;
  EDGE_TRY(Call(r, "delete site " + name, [&](auto& stub, auto& ctx) { return stub.DeleteSite(&ctx, req, &resp); }));
  const std::vector<std::string> tokens(resp.removed_tokens().begin(), resp.removed_tokens().end());
  if (!json)
    WriteLine(std::cerr, "site " + resp.site().name() + " deleted" +
                             (tokens.empty() ? std::string()
                                             : " with the records of its " + std::to_string(tokens.size()) +
                                                   " used, expired or revoked token(s) (the audit log keeps their history)"));
  return nlohmann::json{{"name", resp.site().name()}, {"created_at", resp.site().created_at()}, {"removed_tokens", tokens}};
}

// `ref` as `deploy model` takes it: name:version (split at the first ':'), or a bare version
// that exactly one model has (the controller resolves it).
Result<nlohmann::json> DeleteModelVersion(const Remote& r, const std::string& ref, const std::string& reason, bool json) {
  pb::DeleteModelVersionRequest req;
  if (auto colon = ref.find(':'); colon != std::string::npos) {
    req.set_model(ref.substr(0, colon));
    req.set_version(ref.substr(colon + 1));
  } else {
    req.set_version(ref);
  }
  req.set_reason(reason);
  pb::DeleteModelVersionResponse resp;
  EDGE_TRY(Call(r, "delete model " + ref,
                [&](auto& stub, auto& ctx) { return stub.DeleteModelVersion(&ctx, req, &resp); }));
  const auto& v = resp.version();
  const std::vector<std::string> removed(resp.removed_blobs().begin(), resp.removed_blobs().end());
  const std::vector<std::string> shared(resp.shared_blobs().begin(), resp.shared_blobs().end());
  const std::vector<std::string> left(resp.blobs_left().begin(), resp.blobs_left().end());
  if (!json) {
    WriteLine(std::cerr, "model " + v.model() + ":" + v.version() + " deleted: " + std::to_string(removed.size()) +
                             " blob(s) removed (" + std::to_string(resp.removed_bytes()) + " bytes), " +
                             std::to_string(shared.size()) + " shared with other versions kept");
    if (!left.empty())
      WriteLine(std::cerr, "edgectl: warning: " + std::to_string(left.size()) +
                               " blob file(s) no version references are left on the controller's disk: several "
                               "controllers share its blob_dir (a push through another may be using them), or they "
                               "could not be deleted (see its log)");
  }
  return nlohmann::json{{"model", v.model()},
                        {"version", v.version()},
                        {"security_version", v.security_version()},
                        {"manifest_digest", v.manifest_digest()},
                        {"pushed_by", v.pushed_by()},
                        {"pushed_at", v.pushed_at()},
                        {"removed_blobs", removed},
                        {"removed_bytes", resp.removed_bytes()},
                        {"shared_blobs", shared},
                        {"blobs_left", left}};
}

// One named thing: `act`'s result printed; with --ignore-not-found a kNotFound is said and exits 0.
int DeleteOne(const Result<nlohmann::json>& result, bool json, bool ignore_not_found) {
  if (!result && ignore_not_found && result.error().code == ErrorCode::kNotFound) {
    WriteLine(std::cerr, "edgectl: " + result.error().message + " (ignored: --ignore-not-found)");
    return kExitOk;
  }
  return ExitCode(PrintResult(result, json));
}

}  // namespace

void RegisterDeleteCommands(CLI::App& app, std::function<Result<Context>()> context, const std::string& output_format,
                            int& exit_code) {
  auto commands = std::make_shared<Commands>(Commands{std::move(context), output_format, exit_code});
  auto a = std::make_shared<Args>();
  auto* del = app.add_subcommand("delete", "remove or retire a device, token, operator, site or model version (admin)")->require_subcommand(1);
  auto common = [&a](CLI::App* cmd) {
    cmd->add_option("--reason", a->reason, "why, for the audit log");
    cmd->add_flag("--ignore-not-found", a->ignore_not_found, "exit 0 when it does not exist");
  };

  auto* device = del->add_subcommand("device", "decommission: revoke the device and remove it and its reports; its name "
                                               "is free to enroll again");
  device->add_option("id", a->id, "device id");
  device->add_option("-l,--selector", a->selector, "every device whose labels match, e.g. line=3 (lists them; acts with --confirm)");
  AddConsentFlags(device, a->consent, "delete");
  common(device);
  On(
      commands, device,
      [a](const Remote& r, bool json) -> int {
        if (a->selector.empty()) return DeleteOne(DecommissionDeviceById(r, a->id, a->reason, json), json, a->ignore_not_found);
        return ForEachSelectedDevice(r, a->selector, a->consent, "delete device", json,
                                     [&](const std::string& id) { return DecommissionDeviceById(r, id, a->reason, json); });
      },
      RequireIdOrSelector("delete device", a->id, a->selector, a->consent));

  auto* token = del->add_subcommand("token", "revoke an unused enrollment token (its record stays, as revoked)");
  token->add_option("id", a->id, "token id (from token list)")->required();
  common(token);
  On(commands, token, [a](const Remote& r, bool json) -> int {
    return DeleteOne(RevokeTokenById(r, a->id, a->reason, json), json, a->ignore_not_found);
  });

  auto* op = del->add_subcommand("operator", "revoke an operator: every call with its identity is refused (its record "
                                             "stays, as revoked)");
  op->add_option("name", a->name, "operator name")->required();
  common(op);
  On(commands, op, [a](const Remote& r, bool json) -> int {
    return DeleteOne(RevokeOperatorByName(r, a->name, a->reason, json), json, a->ignore_not_found);
  });

  auto* site = del->add_subcommand("site", "remove a site that has no devices, unused tokens or live rollouts");
  site->add_option("name", a->name, "site name")->required();
  common(site);
  On(commands, site, [a](const Remote& r, bool json) -> int {
    return DeleteOne(DeleteSite(r, a->name, a->reason, json), json, a->ignore_not_found);
  });

  auto* model = del->add_subcommand("model", "remove a model version nothing uses any more, and the blobs only it had");
  model->add_option("ref", a->name, "name:version, or a bare version that exactly one model has")->required();
  common(model);
  On(commands, model, [a](const Remote& r, bool json) -> int {
    return DeleteOne(DeleteModelVersion(r, a->name, a->reason, json), json, a->ignore_not_found);
  });

  // Not a deletion the controller offers: say what to do instead, before contacting anything.
  auto* rollout = del->add_subcommand("rollout", "not offered: rollouts are kept as history; stop one with rollout abort");
  rollout->add_option("id", a->id, "rollout id")->required();
  rollout->callback([a, &exit_code] {
    std::cerr << "edgectl: rollouts are not deleted: a rollout is the record of what was sent to which devices. To stop "
                 "rollout "
              << a->id << ": edgectl rollout abort " << a->id
              << " [--revert] (--revert also sends its devices back to what they ran before)\n";
    exit_code = kExitUsage;
  });
}

}  // namespace edge::edgectl
