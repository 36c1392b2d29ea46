#include "controller/edgectl/identity_cmd.h"

#include <iostream>
#include <memory>

#include "common/tls/grpc_tls.h"
#include "controller/edgectl/device_selection.h"
#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/output.h"
#include "controller/edgectl/operator_call.h"
#include "controller/edgectl/remote.h"
#include "edge/v1/admin.grpc.pb.h"

namespace edge::edgectl {
namespace {

namespace pb = edge::v1;

nlohmann::json OperatorJson(const pb::Operator& o) {
  return {{"name", o.name()}, {"role", o.role()}, {"revoked", o.revoked()}, {"created_by", o.created_by()},
          {"created_at", o.created_at()}, {"last_seen", o.last_seen()}, {"last_serial", o.last_serial()}};
}

void PrintOperator(const pb::Operator& o, bool json, const std::string& verb) {
  if (json) {
    PrintJson(OperatorJson(o));
  } else {
    WriteLine(std::cerr, "operator " + o.name() + " " + verb + " (role " + o.role() + (o.revoked() ? ", revoked" : "") + ")");
  }
}

nlohmann::json TokenJson(const pb::TokenInfo& t) {
  return {{"id", t.id()}, {"site", t.site()}, {"state", t.state()}, {"created_by", t.created_by()},
          {"created_at", t.created_at()}, {"expires_at", t.expires_at()}, {"used_by", t.used_by()}};
}

}  // namespace

Result<nlohmann::json> RevokeDeviceById(const Remote& r, const std::string& id, const std::string& reason, bool json) {
  pb::RevokeDeviceRequest req;
  req.set_id(id);
  req.set_reason(reason);
  pb::Device resp;
  EDGE_TRY(Call(r, "revoke device " + id, [&](auto& stub, auto& ctx) { return stub.RevokeDevice(&ctx, req, &resp); }));
  if (!json)
    WriteLine(std::cerr, "device " + resp.id() + " revoked: its certificate is denied and its stream ended; to free its name: "
                         "edgectl delete device " + resp.id());
  return nlohmann::json{{"id", resp.id()}, {"site", resp.site()}, {"revoked", true}};
}

Result<nlohmann::json> DecommissionDeviceById(const Remote& r, const std::string& id, const std::string& reason, bool json) {
  pb::DecommissionDeviceRequest req;
  req.set_id(id);
  req.set_reason(reason);
  pb::DecommissionDeviceResponse resp;
  EDGE_TRY(Call(r, "decommission device " + id,
                [&](auto& stub, auto& ctx) { return stub.DecommissionDevice(&ctx, req, &resp); }));
  if (!json)
    WriteLine(std::cerr, "device " + resp.id() + " decommissioned from site " + resp.site() + "; " +
                             std::to_string(resp.denied_serials_size()) +
                             " certificate serial(s) stay denied; a replacement can enroll as " + resp.id() +
                             " with a new token");
  return nlohmann::json{{"id", resp.id()}, {"site", resp.site()},
                        {"denied_serials", std::vector<std::string>(resp.denied_serials().begin(), resp.denied_serials().end())}};
}

Result<nlohmann::json> RevokeTokenById(const Remote& r, const std::string& id, const std::string& reason, bool json) {
  pb::RevokeTokenRequest req;
  req.set_id(id);
  req.set_reason(reason);
  pb::TokenInfo resp;
  EDGE_TRY(Call(r, "revoke token " + id, [&](auto& stub, auto& ctx) { return stub.RevokeToken(&ctx, req, &resp); }));
  if (!json) WriteLine(std::cerr, "token " + resp.id() + " for site " + resp.site() + " revoked");
  return TokenJson(resp);
}

Result<nlohmann::json> RevokeOperatorByName(const Remote& r, const std::string& name, const std::string& reason, bool json) {
  pb::RevokeOperatorRequest req;
  req.set_name(name);
  req.set_reason(reason);
  pb::Operator resp;
  EDGE_TRY(Call(r, "revoke operator " + name, [&](auto& stub, auto& ctx) { return stub.RevokeOperator(&ctx, req, &resp); }));
  if (!json) PrintOperator(resp, false, "revoked");
  return OperatorJson(resp);
}

Status PrintResult(const Result<nlohmann::json>& result, bool json) {
  if (!result) return Fail(result.error());
  if (json) PrintJson(*result);
  return Ok();
}

int ExitCode(const Status& s) { return s ? kExitOk : Report(s.error()); }

void RegisterIdentityCommands(CLI::App& app, CLI::App& token_group, std::function<Result<Context>()> context,
                              const std::string& output_format, int& exit_code) {
  // The callbacks hold `commands` and `a`; CLI::App keeps them until edgectl exits.
  auto commands = std::make_shared<Commands>(Commands{std::move(context), output_format, exit_code});
  struct Args {
    std::string id, name, role, reason, site, selector;
    bool all = false;
    SelectionConsent consent;
  };
  auto a = std::make_shared<Args>();
  const auto roles = CLI::IsMember({"viewer", "deployer", "admin"});

  // revoke device|operator
  auto* revoke = app.add_subcommand("revoke", "revoke a device or an operator (admin)")->require_subcommand(1);
  auto* r_device = revoke->add_subcommand(
      "device", "deny the device's certificate on every listener, end its stream now, block its renewal");
  r_device->add_option("id", a->id, "device id");
  r_device->add_option("-l,--selector", a->selector, "every device whose labels match, e.g. line=3 (lists them; acts with --confirm)");
  AddConsentFlags(r_device, a->consent, "revoke");
  r_device->add_option("--reason", a->reason, "why, for the audit log");
  On(
      commands, r_device,
      [a](const Remote& r, bool json) -> int {
        if (a->selector.empty()) return ExitCode(PrintResult(RevokeDeviceById(r, a->id, a->reason, json), json));
        return ForEachSelectedDevice(r, a->selector, a->consent, "revoke device", json,
                                     [&](const std::string& id) { return RevokeDeviceById(r, id, a->reason, json); });
      },
      RequireIdOrSelector("revoke device", a->id, a->selector, a->consent));
  auto* r_operator = revoke->add_subcommand("operator", "revoke an operator: every call with its identity is refused");
  r_operator->add_option("name", a->name, "operator name")->required();
  r_operator->add_option("--reason", a->reason, "why, for the audit log");
  On(commands, r_operator,
     [a](const Remote& r, bool json) { return PrintResult(RevokeOperatorByName(r, a->name, a->reason, json), json); });

  // decommission device
  auto* decommission = app.add_subcommand("decommission", "remove a device for good (admin)")->require_subcommand(1);
  auto* d_device = decommission->add_subcommand(
      "device", "revoke the device, remove it and its reports from the inventory; its name is free to enroll again");
  d_device->add_option("id", a->id, "device id")->required();
  d_device->add_option("--reason", a->reason, "why, for the audit log");
  On(commands, d_device,
     [a](const Remote& r, bool json) { return PrintResult(DecommissionDeviceById(r, a->id, a->reason, json), json); });

  // token list|revoke
  auto* t_list = token_group.add_subcommand("list", "list enrollment tokens (ids only; the tokens are never stored)");
  t_list->add_option("--site", a->site, "only this site");
  t_list->add_flag("--all", a->all, "include used, expired and revoked tokens");
  On(commands, t_list, [a](const Remote& r, bool json) -> Status {
    pb::ListTokensRequest req;
    req.set_site(a->site);
    req.set_all(a->all);
    pb::ListTokensResponse resp;
    EDGE_TRY(Call(r, "list tokens", [&](auto& stub, auto& ctx) { return stub.ListTokens(&ctx, req, &resp); }));
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& t : resp.tokens()) out.push_back(TokenJson(t));
      PrintJson(out);
      return Ok();
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : resp.tokens())
      rows.push_back({t.id(), t.site(), t.state(), t.used_by().empty() ? "-" : t.used_by(), t.created_by(),
                      FormatTime(t.expires_at())});
    PrintTable({"ID", "SITE", "STATE", "USED BY", "CREATED BY", "EXPIRES"}, rows);
    return Ok();
  });
  auto* t_revoke = token_group.add_subcommand("revoke", "revoke an unused enrollment token");
  t_revoke->add_option("id", a->id, "token id (from token list)")->required();
  t_revoke->add_option("--reason", a->reason, "why, for the audit log");
  On(commands, t_revoke,
     [a](const Remote& r, bool json) { return PrintResult(RevokeTokenById(r, a->id, a->reason, json), json); });

  // operator add|list|set-role
  auto* op = app.add_subcommand("operator", "operators and their roles (viewer, deployer, admin)")->require_subcommand(1);
  auto* o_add = op->add_subcommand("add", "bind an operator name (its certificate's identity) to a role (admin)");
  o_add->add_option("name", a->name, "operator name, as in its certificate")->required();
  o_add->add_option("--role", a->role, "viewer | deployer | admin")->required()->check(roles);
  On(commands, o_add, [a](const Remote& r, bool json) -> Status {
    pb::AddOperatorRequest req;
    req.set_name(a->name);
    req.set_role(a->role);
    pb::Operator resp;
    EDGE_TRY(Call(r, "add operator", [&](auto& stub, auto& ctx) { return stub.AddOperator(&ctx, req, &resp); }));
    PrintOperator(resp, json, "added");
    return Ok();
  });
  auto* o_list = op->add_subcommand("list", "list operators, their roles and when they were last seen");
  On(commands, o_list, [](const Remote& r, bool json) -> Status {
    pb::ListOperatorsResponse resp;
    EDGE_TRY(Call(r, "list operators",
                  [&](auto& stub, auto& ctx) { return stub.ListOperators(&ctx, pb::ListOperatorsRequest(), &resp); }));
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& o : resp.operators()) out.push_back(OperatorJson(o));
      PrintJson(out);
      return Ok();
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& o : resp.operators())
      rows.push_back({o.name(), o.role(), o.revoked() ? "revoked" : "active", FormatTime(o.last_seen()),
                      o.last_serial().empty() ? "-" : o.last_serial(), o.created_by()});
    PrintTable({"OPERATOR", "ROLE", "STATUS", "LAST SEEN", "LAST SERIAL", "ADDED BY"}, rows);
    return Ok();
  });
  auto* o_role = op->add_subcommand("set-role", "change an operator's role (admin)");
  o_role->add_option("name", a->name, "operator name")->required();
  o_role->add_option("role", a->role, "viewer | deployer | admin")->required()->check(roles);
  On(commands, o_role, [a](const Remote& r, bool json) -> Status {
    pb::SetOperatorRoleRequest req;
    req.set_name(a->name);
    req.set_role(a->role);
    pb::Operator resp;
    EDGE_TRY(Call(r, "set operator role", [&](auto& stub, auto& ctx) { return stub.SetOperatorRole(&ctx, req, &resp); }));
    PrintOperator(resp, json, "updated");
    return Ok();
  });
}

}  // namespace edge::edgectl
