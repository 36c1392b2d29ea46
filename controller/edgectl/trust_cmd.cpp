#include "controller/edgectl/trust_cmd.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include <grpcpp/grpcpp.h>

#include "common/core/fs.h"
#include "common/crypto/x509.h"
#include "common/tls/grpc_tls.h"
#include "controller/edgectl/context.h"
#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/operator_call.h"
#include "controller/edgectl/output.h"
#include "controller/edgectl/remote.h"
#include "edge/v1/admin.grpc.pb.h"

namespace edge::edgectl {
namespace {

namespace pb = edge::v1;

constexpr size_t kMaxKeys = 64;  // what ParseTrustPolicy accepts

Error Invalid(std::string message) { return Error{ErrorCode::kInvalidArgument, std::move(message)}; }

std::string Join(const std::vector<std::string>& parts, const char* sep = ", ") {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string Expiry(const std::optional<int64_t>& expires) { return expires ? FormatTime(*expires) : "never"; }

bundle::TrustedKey* FindKey(std::vector<bundle::TrustedKey>& keys, const std::string& id) {
  auto it = std::find_if(keys.begin(), keys.end(), [&](const bundle::TrustedKey& k) { return k.id == id; });
  return it == keys.end() ? nullptr : &*it;
}

std::string KnownIds(const std::vector<bundle::TrustedKey>& keys) {
  std::vector<std::string> ids;
  for (const auto& k : keys) ids.push_back(k.id);
  return ids.empty() ? "none" : Join(ids);
}

Status CheckModels(const std::vector<std::string>& models, const std::string& what) {
  if (models.empty()) return Fail(Invalid(what + ": no models given (name them, or \"*\" for any)"));
  std::set<std::string> seen;
  for (const auto& m : models) {
    if (m != "*" && !crypto::IsValidLabel(m)) return Fail(Invalid(what + ": '" + m + "' is not a model name or \"*\""));
    if (!seen.insert(m).second) return Fail(Invalid(what + ": model '" + m + "' is listed twice"));
  }
  if (seen.count("*") && models.size() > 1) return Fail(Invalid(what + ": \"*\" already allows every model; give it alone"));
  return Ok();
}

// ---- files ----

Result<crypto::Ed25519KeyPair> ReadRootPrivateKey(const std::string& file) {
  EDGE_ASSIGN_OR_RETURN(auto pem, fs::ReadFile(file, 64 * 1024));
  auto key = crypto::Ed25519PrivateKeyFromPem(pem);
  if (!key) return Fail(key.error().Wrap("--root-key " + file + " (the release root's PRIVATE key)"));
  return *key;
}

// A public key PEM, or a private key PEM whose public half is used.
Result<crypto::Ed25519PublicKey> ReadRootPublicKey(const std::string& file) {
  EDGE_ASSIGN_OR_RETURN(auto pem, fs::ReadFile(file, 64 * 1024));
  if (auto pub = crypto::Ed25519PublicKeyFromPem(pem)) return *pub;
  auto key = crypto::Ed25519PrivateKeyFromPem(pem);
  if (!key) return Fail(ErrorCode::kInvalidArgument, "--root-key " + file + ": not an Ed25519 public or private key (PEM)");
  return key->public_key;
}

struct LoadedPolicy {
  bundle::TrustPolicy policy;
  std::string envelope;
};

// Verified against the root's signature; expiry is reported, not refused: rotating away from
// an expired policy is exactly what an operator needs to be able to do.
Result<LoadedPolicy> ReadPolicy(const std::string& file, const crypto::Ed25519PublicKey& root) {
  EDGE_ASSIGN_OR_RETURN(auto text, fs::ReadFile(file, bundle::kMaxEnvelopeBytes));
  auto envelope = bundle::ParseEnvelope(text);
  if (!envelope) return Fail(envelope.error().Wrap(file));
  auto policy = bundle::VerifyTrustPolicySignature(*envelope, root);
  if (!policy) return Fail(policy.error().Wrap(file));
  return LoadedPolicy{std::move(*policy), std::move(text)};
}

// "NAME.pub" or "NAME.pub=m1,m2" or "NAME.pub=*"; no list means "*".
Result<KeyGrant> ParseAddKey(const std::string& arg) {
  std::string file = arg, models = "*";
  if (auto eq = arg.rfind('='); eq != std::string::npos) {
    file = arg.substr(0, eq);
    models = arg.substr(eq + 1);
  }
  KeyGrant grant;
  EDGE_ASSIGN_OR_RETURN(auto pem, fs::ReadFile(file, 64 * 1024));
  auto pub = crypto::Ed25519PublicKeyFromPem(pem);
  if (!pub) return Fail(Invalid("--add-key " + file + ": not an Ed25519 public key (PEM): " + pub.error().message));
  grant.public_key = *pub;
  auto list = ParseModelList(models);
  if (!list) return Fail(list.error().Wrap("--add-key " + arg));
  grant.models = std::move(*list);
  return grant;
}

Result<ModelGrant> ParseAllow(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos) return Fail(Invalid("--allow " + arg + ": use KEYID=model1,model2 or KEYID=*"));
  auto list = ParseModelList(arg.substr(eq + 1));
  if (!list) return Fail(list.error().Wrap("--allow " + arg));
  return ModelGrant{arg.substr(0, eq), std::move(*list)};
}

nlohmann::json PolicyJson(const bundle::TrustPolicy& p, int64_t now) {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& k : p.keys) keys.push_back({{"id", k.id}, {"models", k.models}});
  return {{"version", p.version}, {"fleet", p.fleet}, {"expires", p.expires ? *p.expires : 0},
          {"expired", p.expires && now >= *p.expires}, {"keys", keys}};
}

// ---- commands ----

struct RotateArgs {
  std::string policy, root_key, out, expires;
  std::vector<std::string> add, remove, allow;
};

Status RunRotate(const RotateArgs& a, OutputFormat format) {
  EDGE_ASSIGN_OR_RETURN(auto root, ReadRootPrivateKey(a.root_key));
  EDGE_ASSIGN_OR_RETURN(auto current, ReadPolicy(a.policy, root.public_key));
  RotationChanges changes;
  for (const auto& arg : a.add) {
    EDGE_ASSIGN_OR_RETURN(auto grant, ParseAddKey(arg));
    changes.add.push_back(std::move(grant));
  }
  changes.remove = a.remove;
  for (const auto& arg : a.allow) {
    EDGE_ASSIGN_OR_RETURN(auto grant, ParseAllow(arg));
    changes.allow.push_back(std::move(grant));
  }
  if (a.expires == "never") {
    changes.expires_in = std::optional<int64_t>();
  } else if (!a.expires.empty()) {
    auto seconds = ParseDurationSeconds(a.expires);
    if (!seconds) return Fail(Invalid("--expires: " + seconds.error().message + ", or never"));
    changes.expires_in = std::optional<int64_t>(*seconds);
  }
  const int64_t now = NowUnix();
  EDGE_ASSIGN_OR_RETURN(auto next, RotateTrustPolicy(current.policy, changes, now));
  bundle::Envelope envelope{std::string(bundle::kTrustPolicyPayloadType), bundle::SerializeTrustPolicy(next), {}};
  EDGE_TRY(bundle::SignEnvelope(envelope, root.seed));
  const std::string text = bundle::SerializeEnvelope(envelope);
  // What agents will do with it: it must verify against the root, now.
  EDGE_ASSIGN_OR_RETURN(auto check, bundle::ParseEnvelope(text));
  EDGE_TRY(bundle::VerifyTrustPolicy(check, root.public_key, now));
  if (auto s = fs::WriteFileAtomic(a.out, text, 0644); !s) return Fail(s.error().Wrap("--out"));
  if (format == OutputFormat::kJson) {
    PrintJson({{"from", PolicyJson(current.policy, now)}, {"to", PolicyJson(next, now)}, {"file", a.out}});
  } else {
    std::cout << DescribeRotation(current.policy, next);
  }
  std::cerr << "wrote " << a.out << ", signed by the release root " << crypto::Ed25519KeyId(root.public_key)
            << "; next: edgectl trust push " << a.out << "\n";
  return Ok();
}

Status RunShow(const std::string& file, const std::string& root_key, OutputFormat format) {
  EDGE_ASSIGN_OR_RETURN(auto root, ReadRootPublicKey(root_key));
  EDGE_ASSIGN_OR_RETURN(auto loaded, ReadPolicy(file, root));
  if (format == OutputFormat::kJson) {
    PrintJson(PolicyJson(loaded.policy, NowUnix()));
  } else {
    std::cout << DescribePolicy(loaded.policy, NowUnix());
  }
  std::cerr << "signature by the release root " << crypto::Ed25519KeyId(root) << " verifies\n";
  return Ok();
}

Status CheckCall(const grpc::Status& s, std::string_view call, const Remote& remote) {
  if (s.ok()) return Ok();
  Error e = OperatorCallError(s, call, *remote.stub, remote.target, remote.unreachable_hint);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED && e.code != ErrorCode::kUnauthenticated)
    return Fail(ErrorCode::kFailedPrecondition,
                std::string(call) + ": the controller at " + remote.target + " does not implement it yet; until it does, "
                "give the controller the new policy file as its trust_policy and restart it (agents take it from there)");
  return Fail(e);
}

void PrintInfo(const pb::TrustPolicyInfo& info, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    nlohmann::json keys = nlohmann::json::array();
    for (const auto& k : info.keys())
      keys.push_back({{"id", k.key_id()}, {"models", std::vector<std::string>(k.models().begin(), k.models().end())}});
    PrintJson({{"version", info.version()}, {"fleet", info.fleet()}, {"expires", info.expires()}, {"keys", keys}});
    return;
  }
  std::cout << "Version:  v" << info.version() << "\nFleet:    " << TerminalSafe(info.fleet())
            << "\nExpires:  " << (info.expires() == 0 ? "never" : FormatTime(info.expires())) << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : info.keys())
    rows.push_back({k.key_id(), Join(std::vector<std::string>(k.models().begin(), k.models().end()))});
  std::cout << FormatTable({"KEY", "MODELS"}, rows);
}

Status RunPush(const Context& context, const std::string& file, OutputFormat format) {
  EDGE_ASSIGN_OR_RETURN(auto text, fs::ReadFile(file, bundle::kMaxEnvelopeBytes));
  // Catch a wrong file before it leaves the laptop; the controller verifies the signature.
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(text));
  if (envelope.payload_type != bundle::kTrustPolicyPayloadType)
    return Fail(Invalid(file + " is not a trust policy (payload type '" + envelope.payload_type.substr(0, 128) + "')"));
  EDGE_ASSIGN_OR_RETURN(auto remote, Dial(context));
  pb::PushTrustPolicyRequest req;
  req.set_envelope(text);
  pb::TrustPolicyInfo info;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  EDGE_TRY(CheckCall(remote.stub->PushTrustPolicy(&ctx, req, &info), "PushTrustPolicy", remote));
  PrintInfo(info, format);
  std::cerr << "the controller serves trust policy v" << info.version() << " and hands it to every agent\n";
  return Ok();
}

Status RunGet(const Context& context, OutputFormat format) {
  EDGE_ASSIGN_OR_RETURN(auto remote, Dial(context));
  pb::TrustPolicyInfo info;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  EDGE_TRY(CheckCall(remote.stub->GetTrustPolicy(&ctx, pb::GetTrustPolicyRequest(), &info), "GetTrustPolicy",
                     remote));
  PrintInfo(info, format);
  return Ok();
}

}  // namespace

Result<std::vector<std::string>> ParseModelList(const std::string& text) {
  std::vector<std::string> models;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    models.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (const auto& m : models)
    if (m.empty()) return Fail(Invalid("model list '" + text + "' has an empty name"));
  EDGE_TRY(CheckModels(models, "model list '" + text + "'"));
  return models;
}

Result<bundle::TrustPolicy> RotateTrustPolicy(const bundle::TrustPolicy& current, const RotationChanges& changes,
                                              int64_t now) {
  bundle::TrustPolicy next = current;
  next.version = current.version + 1;
  for (const auto& grant : changes.add) {
    const std::string id = crypto::Ed25519KeyId(grant.public_key);
    if (FindKey(next.keys, id)) {
      const bool in_current = std::any_of(current.keys.begin(), current.keys.end(),
                                          [&](const bundle::TrustedKey& k) { return k.id == id; });
      return Fail(Invalid("--add-key: key " + id +
                          (in_current ? " is already in trust policy v" + std::to_string(current.version) +
                                            " (change its models with --allow)"
                                      : " is added twice")));
    }
    EDGE_TRY(CheckModels(grant.models, "--add-key " + id));
    next.keys.push_back({id, grant.public_key, grant.models});
  }
  std::set<std::string> removed;
  for (const auto& id : changes.remove) {
    auto it = std::find_if(next.keys.begin(), next.keys.end(), [&](const bundle::TrustedKey& k) { return k.id == id; });
    if (it == next.keys.end())
      return Fail(Invalid("--remove-key: no key " + id + " in trust policy v" + std::to_string(current.version) +
                          (removed.count(id) ? " (removed twice)" : " (keys: " + KnownIds(next.keys) + ")")));
    next.keys.erase(it);
    removed.insert(id);
  }
  if (next.keys.empty())
    return Fail(Invalid("--remove-key: that removes the last key; a policy with no key lets nothing install "
                        "(add the replacement with --add-key in the same rotation)"));
  for (const auto& grant : changes.allow) {
    auto* key = FindKey(next.keys, grant.key_id);
    if (!key)
      return Fail(Invalid("--allow: no key " + grant.key_id + (removed.count(grant.key_id) ? " (it is removed by this rotation)"
                                                                                          : " (keys: " + KnownIds(next.keys) + ")")));
    EDGE_TRY(CheckModels(grant.models, "--allow " + grant.key_id));
    key->models = grant.models;
  }
  if (next.keys.size() > kMaxKeys) return Fail(Invalid("a trust policy holds at most 64 keys"));
  if (changes.expires_in) {
    next.expires = *changes.expires_in ? std::optional<int64_t>(now + **changes.expires_in) : std::nullopt;
  } else if (current.expires) {
    return Fail(Invalid("trust policy v" + std::to_string(current.version) + " expires (" + FormatTime(*current.expires) +
                        "); say how long v" + std::to_string(next.version) +
                        " is valid: --expires DURATION (e.g. 90d) or --expires never"));
  }
  return next;
}

std::string DescribeRotation(const bundle::TrustPolicy& current, const bundle::TrustPolicy& next) {
  std::string out = "trust policy v" + std::to_string(current.version) + " -> v" + std::to_string(next.version) +
                    " (fleet " + next.fleet + ")\n";
  const std::string from = Expiry(current.expires), to = Expiry(next.expires);
  out += "  expires: " + (from == to ? to + " (unchanged)" : from + " -> " + to) + "\n";
  std::map<std::string, const bundle::TrustedKey*> before;
  for (const auto& k : current.keys) before[k.id] = &k;
  for (const auto& k : next.keys) {
    auto it = before.find(k.id);
    if (it == before.end()) {
      out += "  + " + k.id + "  models: " + Join(k.models) + "\n";
    } else if (it->second->models != k.models) {
      out += "  ~ " + k.id + "  models: " + Join(it->second->models) + " -> " + Join(k.models) + "\n";
    } else {
      out += "    " + k.id + "  models: " + Join(k.models) + "\n";
    }
  }
  for (const auto& k : current.keys) {
    if (std::none_of(next.keys.begin(), next.keys.end(), [&](const bundle::TrustedKey& n) { return n.id == k.id; }))
      out += "  - " + k.id + "  models: " + Join(k.models) + "  (bundles signed only by it stop installing)\n";
  }
  return out;
}

std::string DescribePolicy(const bundle::TrustPolicy& policy, int64_t now) {
  std::string out = "Version:  v" + std::to_string(policy.version) + "\nFleet:    " + policy.fleet +
                    "\nExpires:  " + Expiry(policy.expires);
  if (policy.expires) out += now >= *policy.expires ? " (EXPIRED: agents holding it install nothing)" : " (valid)";
  out += "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : policy.keys) rows.push_back({k.id, Join(k.models)});
  return out + FormatTable({"KEY", "MODELS"}, rows);
}

void RegisterTrustCommands(CLI::App& app, const std::string& output_format, std::function<Result<Context>()> context,
                           int& exit_code) {
  auto format = [&output_format] { return output_format == "json" ? OutputFormat::kJson : OutputFormat::kTable; };
  auto finish = [&exit_code](const Status& s) { exit_code = s ? kExitOk : Report(s.error()); };
  auto* trust = app.add_subcommand("trust", "trust policy: rotate release keys (offline, with the root key), show, push")
                    ->require_subcommand(1);

  auto rotate = std::make_shared<RotateArgs>();
  auto* r = trust->add_subcommand("rotate", "write the next trust policy version, signed by the release root key");
  r->add_option("--policy", rotate->policy, "current signed trust policy")->required()->check(CLI::ExistingFile);
  r->add_option("--root-key", rotate->root_key, "release root PRIVATE key (PEM)")->required()->check(CLI::ExistingFile);
  r->add_option("--out", rotate->out, "file to write the next version to")->required();
  r->add_option("--add-key", rotate->add, "release public key to trust, optionally =model1,model2 or =* (default *)");
  r->add_option("--remove-key", rotate->remove, "key id to drop (ed25519:...)");
  r->add_option("--allow", rotate->allow, "KEYID=model1,model2 or KEYID=*: replace a key's models");
  r->add_option("--expires", rotate->expires, "validity from now (e.g. 30d, at most 365d), or never");
  r->callback([=] { finish(RunRotate(*rotate, format())); });

  auto show_file = std::make_shared<std::string>(), show_root = std::make_shared<std::string>();
  auto* s = trust->add_subcommand("show", "verify a trust policy file against the root and print it");
  s->add_option("policy", *show_file, "signed trust policy")->required()->check(CLI::ExistingFile);
  s->add_option("--root-key", *show_root, "release root public (or private) key, PEM")->required()->check(CLI::ExistingFile);
  s->callback([=] { finish(RunShow(*show_file, *show_root, format())); });

  auto push_file = std::make_shared<std::string>();
  auto* p = trust->add_subcommand("push", "send a new trust policy to the controller, which hands it to every agent");
  p->add_option("policy", *push_file, "signed trust policy (edgectl trust rotate --out)")->required()->check(CLI::ExistingFile);
  p->callback([=] {
    auto c = context();
    finish(c ? RunPush(*c, *push_file, format()) : Status(Fail(c.error())));
  });

  auto* g = trust->add_subcommand("get", "the trust policy the controller serves");
  g->callback([=] {
    auto c = context();
    finish(c ? RunGet(*c, format()) : Status(Fail(c.error())));
  });
}

}  // namespace edge::edgectl
