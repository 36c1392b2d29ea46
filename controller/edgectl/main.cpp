// edgectl: the operator's command line. Verb-noun, like kubectl (docs/cli.md).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <iostream>
#include <sstream>
#include <thread>

#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpc/grpc.h>

#include "agent/engine/cli/model_commands.h"
#include "agent/engine/npy_io.h"
#include "agent/runtime/health_gate.h"
#include "agent/runtime/selftest_file.h"
#include "common/core/fs.h"
#include "common/crypto/ed25519.h"
#include "common/tls/grpc_log.h"
#include "controller/edgectl/bundle_dir.h"
#include "controller/edgectl/bundle_quality.h"
#include "controller/edgectl/completion.h"
#include "controller/edgectl/controller_address.h"
#include "controller/edgectl/delete_cmd.h"
#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/identity_cmd.h"
#include "controller/edgectl/infer_cmd.h"
#include "controller/edgectl/pki.h"
#include "controller/edgectl/remote.h"
#include "controller/edgectl/rollout_cmd.h"
#include "controller/edgectl/suggest.h"
#include "controller/edgectl/trust_cmd.h"
#include "controller/edgectl/version_cmd.h"

namespace {

using namespace edge;
using namespace edge::edgectl;

std::string Rfc3339Now() {
  std::time_t t = static_cast<std::time_t>(NowUnix());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct Globals {
  std::string config;
  std::string context;
  std::string controller;
  int64_t connect_timeout_ms = 0;  // 0: the context's
  std::string output = "table";
};

// The context the global flags select, with --controller applied.
Result<Context> ContextOf(const Globals& g) {
  const std::filesystem::path file = g.config.empty() ? DefaultConfigPath() : std::filesystem::path(g.config);
  EDGE_ASSIGN_OR_RETURN(auto ctx, LoadContext(file, g.context));
  if (!g.controller.empty()) ctx.controller = g.controller;
  if (g.connect_timeout_ms > 0) ctx.connect_timeout = std::chrono::milliseconds(g.connect_timeout_ms);
  return ctx;
}

Result<std::unique_ptr<OperatorClient>> Client(const Globals& g) {
  EDGE_ASSIGN_OR_RETURN(auto ctx, ContextOf(g));
  return OperatorClient::Connect(ctx);
}

OutputFormat Format(const Globals& g) { return g.output == "json" ? OutputFormat::kJson : OutputFormat::kTable; }

int Finish(const Status& s) { return s ? kExitOk : Report(s.error()); }

// `get --watch`: runs `once` (which prints to stdout) every `interval` and prints its output
// again whenever it differs from the last; on a terminal the screen is redrawn, elsewhere each
// new version follows the last after a timestamp line. Ends on the first error (its exit code)
// or Ctrl-C.
int WatchOutput(const std::function<Status()>& once, std::chrono::seconds interval) {
  const bool tty = isatty(STDOUT_FILENO) == 1;
  std::string last;
  bool first = true;
  for (;;) {
    std::ostringstream captured;
    std::streambuf* real = std::cout.rdbuf(captured.rdbuf());
    const Status s = once();
    std::cout.rdbuf(real);
    if (!s) return Report(s.error());
    if (first || captured.str() != last) {
      if (tty) std::cout << "\033[H\033[2J";
      if (!first || tty) std::cout << (tty ? "" : "\n") << "-- " << Rfc3339Now() << " (every " << interval.count() << "s; Ctrl-C ends)\n";
      std::cout << captured.str() << std::flush;
      last = captured.str();
      first = false;
    }
    std::this_thread::sleep_for(interval);
  }
}

// `edgectl bundle selftest`: the expected outputs come from the scalar tier, the reference
// every other tier is tested against; each faster tier this CPU has must then reproduce them
// within `tolerance`, so a self-test made here also passes on devices with other CPUs.
Status WriteSelfTest(const std::string& model_file, const std::vector<std::string>& input_files,
                     const std::string& out_file, double tolerance) {
  auto model = engine::Model::LoadFile(model_file);  // its errors name the file
  if (!model) return Fail(model.error());
  std::vector<engine::NpyArray> inputs;
  for (const auto& file : input_files) {
    EDGE_ASSIGN_OR_RETURN(auto array, engine::ReadNpy(file));
    inputs.push_back(std::move(array));
  }
  auto selftest = runtime::GenerateSelfTest(*model, inputs, engine::KernelTier::kScalar);
  if (!selftest) return Fail(selftest.error().Wrap("running " + model_file));
  std::string tiers = "scalar";
  double max_diff = 0.0;
  for (auto tier : engine::kAllTiers) {
    if (tier == engine::KernelTier::kScalar || !engine::TierSupported(tier)) continue;
    engine::ExecutionContext ctx(*model, tier);
    auto result = runtime::RunSelfTest(ctx, *selftest, tolerance);
    if (!result) {
      return Fail(result.error().Wrap("the " + std::string(engine::KernelTierName(tier)) +
                                      " tier differs from the scalar reference beyond --tolerance"));
    }
    max_diff = std::max(max_diff, result->max_abs_error);
    tiers += ", " + std::string(engine::KernelTierName(tier));
  }
  EDGE_ASSIGN_OR_RETURN(auto text, runtime::SerializeSelfTest(*selftest, **model));
  EDGE_TRY(runtime::ParseSelfTest(text, **model));  // what agents will read must parse
  EDGE_TRY(fs::WriteFileAtomic(out_file, text));
  std::cerr << "wrote " << out_file << ": " << selftest->cases.size() << " case(s); tiers " << tiers
            << " agree within " << max_diff << " (--tolerance " << tolerance
            << "); next: edgectl bundle build ... --selftest " << out_file << "\n";
  return Ok();
}

// Parses the command line, which runs the operator commands' callbacks, then the action a
// callback chose, if any. Returns the exit code of whichever ran (`exit_code` as the callbacks
// left it), or of the usage error.
int ParseAndRun(CLI::App& app, int argc, char** argv, const int& exit_code, const std::function<int()>& action) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0) {
      const std::string unknown = UnknownCommandMessage(app, std::vector<std::string>(argv + 1, argv + argc));
      if (!unknown.empty()) {
        std::cerr << "edgectl: " << unknown << "\nRun with --help for more information.\n";
        return kExitUsage;
      }
    }
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return action ? action() : exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  tls::QuietLibraryLogs();  // our error messages carry gRPC's status; GRPC_VERBOSITY brings its lines back
  tls::SkipLockCycleChecks();
  CLI::App app{"edgectl: drive an edgefleet controller, build and sign model bundles, set up a fleet PKI"};
  app.require_subcommand(1);
  Globals g;
  app.fallthrough();  // global flags (-o, --context, ...) may follow the subcommand
  app.add_option("--config", g.config, "edgectl config file (default $EDGECTL_CONFIG or ~/.config/edgectl/config)");
  app.add_option("--context", g.context, "context in the config file (default: current_context)")->envname("EDGECTL_CONTEXT");
  app.add_option("--controller", g.controller, "override the controller address (host:port; several controllers sharing one database: a:port,b:port, the first that answers is used)")
      ->envname("EDGECTL_CONTROLLER")
      ->check(CLI::Validator(
          [](std::string& v) {
            auto address = ParseControllerAddresses(v);
            return address ? std::string() : address.error().message;
          },
          "ADDRESS"));
  app.add_option("--connect-timeout-ms", g.connect_timeout_ms,
                 "time one connection to the controller may take to set up (TCP, TLS, HTTP/2); default: the "
                 "context's connect_timeout_ms, else 10000")
      ->envname("EDGECTL_CONNECT_TIMEOUT_MS")
      ->check(CLI::Range(tls::kMinConnectTimeout.count(), tls::kMaxConnectTimeout.count()));
  // yaml is JSON's data written as YAML: every command that prints JSON prints YAML instead
  // (output.h), so the commands see "json".
  app.add_option("-o,--output", g.output, "output format: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->transform([](std::string v) {
        SetYamlOutput(v == "yaml");
        return v == "yaml" ? std::string("json") : v;
      });
  int exit_code = kExitOk;
  std::function<int()> action;

  // pki
  auto* pki = app.add_subcommand("pki", "fleet PKI and release keys")->require_subcommand(1);
  PkiInitOptions pki_opts;
  auto* pki_init = pki->add_subcommand("init", "create fleet CA, operator CA, controller cert, admin cert, release keys, trust policy");
  std::string pki_dir;
  pki_init->add_option("--dir", pki_dir, "directory to create (must not hold a PKI)")->required();
  pki_init->add_option("--fleet", pki_opts.fleet, "fleet name")->required();
  pki_init->add_option("--controller-host", pki_opts.controller_hosts, "controller DNS name or IP (repeatable)")->required();
  pki_init->add_option("--operator", pki_opts.operator_name, "first operator's name")->capture_default_str();
  pki_init->add_option("--release-key", pki_opts.release_key_name, "first release key's name")->capture_default_str();
  std::string operator_port = "7445";
  pki_init->add_option("--operator-port", operator_port, "controller operator port for the edgectl context")->capture_default_str();
  pki_init->callback([&] {
    action = [&] {
      pki_opts.dir = std::filesystem::absolute(pki_dir);
      pki_opts.now = NowUnix();
      if (auto s = PkiInit(pki_opts); !s) return Report(s.error());
      Context ctx{pki_opts.fleet, pki_opts.controller_hosts.front() + ":" + operator_port, pki_opts.dir / "fleet-ca.pem",
                  pki_opts.dir / "operators" / (pki_opts.operator_name + ".pem"),
                  pki_opts.dir / "operators" / (pki_opts.operator_name + ".key")};
      if (auto s = WriteContextFile(pki_opts.dir / "edgectl.json", ctx); !s) return Report(s.error());
      std::cerr << "PKI for fleet " << pki_opts.fleet << " created in " << pki_opts.dir.string() << "\n"
                << "  keep offline: release-root.key (signs trust policies), operator-ca.key\n"
                << "  controller:   fleet-ca.{pem,key}, controller.{pem,key}, operator-ca.pem, trust-policy.json, release-root.pub\n"
                << "  signing host: " << pki_opts.release_key_name << ".key\n"
                << "  edgectl:      export EDGECTL_CONFIG=" << (pki_opts.dir / "edgectl.json").string() << "\n";
      return kExitOk;
    };
  });
  auto* pki_op = pki->add_subcommand("operator", "issue another operator certificate from a PKI directory");
  std::string op_name, op_fleet;
  pki_op->add_option("--dir", pki_dir, "PKI directory")->required();
  pki_op->add_option("--fleet", op_fleet, "fleet name")->required();
  pki_op->add_option("name", op_name, "operator name")->required();
  pki_op->callback([&] { action = [&] { return Finish(PkiIssueOperator(pki_dir, op_fleet, op_name)); }; });
  // Renewal: a new key too, so a leaked old key stops working once the old certificate expires.
  auto renewed = [](const Result<crypto::CertInfo>& cert, const std::string& stem, const std::string& next) {
    if (!cert) return Report(cert.error());
    std::cerr << "renewed " << stem << ".{key,pem}: serial " << cert->serial_hex << ", valid until "
              << FormatTime(cert->not_after) << "; the previous pair is kept as " << stem << ".{key,pem}.old\n"
              << next;
    return kExitOk;
  };
  int renew_days = 0;
  auto* pki_renew_op = pki->add_subcommand("renew-operator", "new key and certificate for an existing operator (same identity)");
  pki_renew_op->add_option("--dir", pki_dir, "PKI directory (needs operator-ca.key)")->required();
  pki_renew_op->add_option("--fleet", op_fleet, "fleet name (must match the current certificate)")->required();
  pki_renew_op->add_option("name", op_name, "operator name")->required();
  pki_renew_op->add_option("--days", renew_days, "validity in days (default 90)")->check(CLI::Range(1, kMaxCertDays));
  pki_renew_op->callback([&] {
    action = [&] {
      const auto stem = (std::filesystem::path(pki_dir) / "operators" / op_name).string();
      return renewed(PkiRenewOperator(pki_dir, op_fleet, op_name, renew_days > 0 ? renew_days : kOperatorCertDays), stem,
                     "  edgectl contexts that name these files use the new certificate from their next command\n");
    };
  });
  auto* pki_renew_ctl = pki->add_subcommand("renew-controller", "new key and certificate for the controller (same names)");
  pki_renew_ctl->add_option("--dir", pki_dir, "PKI directory (needs fleet-ca.key)")->required();
  pki_renew_ctl->add_option("--days", renew_days, "validity in days (default 365)")->check(CLI::Range(1, kMaxCertDays));
  pki_renew_ctl->callback([&] {
    action = [&] {
      const auto stem = (std::filesystem::path(pki_dir) / "controller").string();
      return renewed(PkiRenewController(pki_dir, renew_days > 0 ? renew_days : kControllerCertDays), stem,
                     "  a running controller serves it to new connections within its certificate refresh "
                     "interval; open connections keep the old one\n");
    };
  });

  // bundle
  auto* bundle_cmd = app.add_subcommand("bundle", "build, sign and verify model bundles (offline)")->require_subcommand(1);
  BundleBuildOptions build;
  std::string model_file, selftest_file, out_dir;
  std::vector<std::string> extra_blobs;
  int64_t security_version = -1;
  auto* b_build = bundle_cmd->add_subcommand("build", "build an unsigned bundle directory from a model file");
  b_build->add_option("--name", build.name, "model name")->required();
  b_build->add_option("--version", build.version, "version label, e.g. v3")->required();
  b_build->add_option("--security-version", security_version, "anti-rollback counter (only rises)")->required()->check(CLI::NonNegativeNumber);
  b_build->add_option("--model", model_file, "model file (ONNX)")->required()->check(CLI::ExistingFile);
  b_build->add_option("--selftest", selftest_file, "self-test vectors file")->check(CLI::ExistingFile);
  b_build->add_option("--out", out_dir, "output directory")->required();
  b_build->add_option("--selftest-tolerance", build.health.selftest_tolerance,
                      "max |got - want| per self-test output element on the device (0 = exact)")
      ->check(CLI::NonNegativeNumber);
  b_build->add_option("--latency-budget-us", build.health.latency_budget_us,
                      "p99 latency the model must meet on the device before it is switched in (0 = none)");
  b_build->add_option("--soak-seconds", build.health.soak_seconds,
                      "probation after the switch: the device watches errors, latency and restarts this long "
                      "before it commits (0 = commit at once)");
  bool skip_model_checks = false;
  // Hidden: only for bundles that test the devices' own health gate (docs/cli.md).
  b_build->add_flag("--skip-model-checks", skip_model_checks,
                    "do not load the model nor run the self-test (testing devices' own checks)")
      ->group("");
  BundleQualityCheck quality_check;
  auto* eval_data = b_build->add_option("--eval-data", quality_check.eval_data,
                                        "held-out inputs (.npy): measure the model against --reference-model on them "
                                        "and record the figures in the manifest")
                        ->check(CLI::ExistingFile);
  auto* reference = b_build->add_option("--reference-model", quality_check.reference_model,
                                        "the fp32 model the bundle's model was quantized from (with --eval-data)")
                        ->check(CLI::ExistingFile);
  eval_data->needs(reference);
  reference->needs(eval_data);
  b_build->add_option("--min-snr", quality_check.min_snr_db, "with --eval-data: refuse (exit 3) below this SNR in dB")
      ->needs(eval_data);
  b_build->add_option("--min-top1", quality_check.min_top1_percent,
                      "with --eval-data: refuse (exit 3) below this top-1 agreement in percent")
      ->needs(eval_data)->check(CLI::Range(0.0, 100.0));
  b_build->add_option("--blob", extra_blobs, "an extra file shipped with the model, as ROLE=FILE (e.g. labels=labels.txt); "
                                             "repeatable");
  b_build->callback([&] {
    action = [&] {
      build.security_version = static_cast<uint64_t>(security_version);
      build.out = out_dir;
      build.created = Rfc3339Now();
      build.blobs.push_back({"model", model_file, "application/vnd.onnx"});
      if (!selftest_file.empty()) build.blobs.push_back({"selftest", selftest_file, "application/vnd.edgefleet.selftest+json"});
      for (const auto& spec : extra_blobs) {
        const auto eq = spec.find('=');
        const std::string role = spec.substr(0, eq == std::string::npos ? 0 : eq);
        if (eq == std::string::npos || role.empty() || eq + 1 == spec.size())
          return Report(Error{ErrorCode::kInvalidArgument, "--blob '" + spec + "' must be ROLE=FILE"});
        if (role == "model" || role == "selftest")
          return Report(Error{ErrorCode::kInvalidArgument, "--blob role '" + role + "' is reserved; use --" + role});
        if (!std::filesystem::is_regular_file(spec.substr(eq + 1)))
          return Report(Error{ErrorCode::kNotFound, "--blob " + role + ": no such file " + spec.substr(eq + 1)});
        build.blobs.push_back({role, spec.substr(eq + 1), "application/octet-stream"});
      }
      build.check_model = !skip_model_checks;
      for (const auto& [bar, what] : {std::pair{quality_check.min_snr_db, "--min-snr"},
                                      std::pair{quality_check.min_top1_percent, "--min-top1"}}) {
        if (bar && !std::isfinite(*bar)) {
          std::cerr << "edgectl: " << what << " must be a finite number\n";
          return kExitUsage;
        }
      }
      if (!quality_check.eval_data.empty()) {
        // Measured before anything is written: a model below its bar leaves no bundle behind.
        auto measured = MeasureBundleQuality(model_file, quality_check);
        if (!measured) return Report(measured.error());
        std::cerr << DescribeQuality(measured->record);
        if (!measured->below_bar.empty()) {
          std::cerr << "edgectl: refusing to build " << build.name << ":" << build.version
                    << ": quality below the bar: " << measured->below_bar << "\n";
          return kExitQualityBelowBar;
        }
        build.quality = std::move(measured->record);
      }
      if (skip_model_checks)
        std::cerr << "edgectl: warning: --skip-model-checks: the model is not loaded and the self-test not run; "
                     "devices will refuse this bundle if either fails\n";
      auto m = BuildBundle(build);
      if (!m) return Report(m.error());
      const char* checked = skip_model_checks        ? "model NOT checked"
                            : selftest_file.empty() ? "model loads and runs"
                                                    : "model loads and passes its self-test";
      std::cerr << "built " << m->name << ":" << m->version << " in " << out_dir << " (" << checked
                << "; unsigned; next: edgectl bundle sign " << out_dir << " --key KEY)\n";
      return kExitOk;
    };
  });
  std::string st_model, st_out;
  std::vector<std::string> st_inputs;
  double st_tolerance = 0.0;
  auto* b_selftest = bundle_cmd->add_subcommand(
      "selftest", "run a model on sample inputs and write the self-test file of its expected outputs");
  b_selftest->add_option("--model", st_model, "model file (ONNX)")->required()->check(CLI::ExistingFile);
  b_selftest->add_option("--input", st_inputs, "input .npy (float32), one per model input, in order; "
                                               "a leading axis of samples gives one case per sample")
      ->required()->check(CLI::ExistingFile);
  b_selftest->add_option("--out", st_out, "self-test file to write (JSON)")->required();
  b_selftest->add_option("--tolerance", st_tolerance, "largest |difference| allowed between kernel tiers")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  b_selftest->callback([&] { action = [&] { return Finish(WriteSelfTest(st_model, st_inputs, st_out, st_tolerance)); }; });
  std::string sign_dir, key_file;
  auto* b_sign = bundle_cmd->add_subcommand("sign", "sign a bundle with a release key");
  b_sign->add_option("dir", sign_dir, "bundle directory")->required()->check(CLI::ExistingDirectory);
  b_sign->add_option("--key", key_file, "Ed25519 release private key (PEM)")->required()->check(CLI::ExistingFile);
  b_sign->callback([&] {
    action = [&] {
      auto id = SignBundle(sign_dir, key_file);
      if (!id) return Report(id.error());
      std::cerr << "signed " << sign_dir << " with " << *id << "\n";
      return kExitOk;
    };
  });
  std::string verify_policy, verify_root;
  auto* b_verify = bundle_cmd->add_subcommand("verify", "verify a bundle against a trust policy, as an agent would");
  b_verify->add_option("bundle", sign_dir, "bundle directory or exported bundle file")->required()->check(CLI::ExistingPath);
  b_verify->add_option("--trust-policy", verify_policy, "signed trust policy")->required()->check(CLI::ExistingFile);
  b_verify->add_option("--root-key", verify_root, "release root public key (PEM)")->required()->check(CLI::ExistingFile);
  b_verify->callback([&] {
    action = [&] {
      auto v = VerifyBundle(sign_dir, verify_policy, verify_root, NowUnix());
      if (!v) return Report(v.error());
      std::cerr << "OK: " << v->manifest.name << ":" << v->manifest.version << " security_version "
                << v->manifest.security_version << ", " << v->manifest.blobs.size() << " blob(s) verified against trust policy v"
                << v->policy.version << "\n";
      if (v->manifest.quality) {
        std::cerr << "quality (from the signed payload, reference sha256 " << v->manifest.quality->reference_digest
                  << ", eval data sha256 " << v->manifest.quality->eval_digest << "):\n"
                  << DescribeQuality(*v->manifest.quality);
      }
      return kExitOk;
    };
  });
  std::string export_dir, export_out;
  auto* b_export = bundle_cmd->add_subcommand("export", "write a signed bundle as one file, for air-gapped sites");
  b_export->add_option("dir", export_dir, "signed bundle directory")->required()->check(CLI::ExistingDirectory);
  b_export->add_option("--out", export_out, "file to write")->required();
  b_export->callback([&] {
    action = [&] {
      auto e = ExportBundle(export_dir, export_out);
      if (!e) return Report(e.error());
      std::cerr << "exported " << e->manifest.name << ":" << e->manifest.version << " to " << export_out << " ("
                << e->bytes << " bytes); on the device: edge-agent install " << export_out << "\n";
      return kExitOk;
    };
  });

  // model
  auto* model = app.add_subcommand("model", "model versions")->require_subcommand(1);
  std::string push_dir;
  auto* m_push = model->add_subcommand("push", "upload a signed bundle to the controller");
  m_push->add_option("bundle", push_dir, "signed bundle directory")->required()->check(CLI::ExistingDirectory);
  m_push->callback([&] {
    action = [&] {
      auto c = Client(g);
      return c ? Finish((*c)->PushBundle(push_dir, Format(g))) : Report(c.error());
    };
  });

  // model quantize|inspect|run|bench: the inference engine's offline tools (docs/engine.md).
  edge::engine::RegisterModelCommands(*model, exit_code);

  edge::edgectl::RegisterInferCommand(app, g.output, exit_code);  // infer: a device's local inference API
  edge::edgectl::RegisterTrustCommands(app, g.output, [&g] { return ContextOf(g); }, exit_code);  // trust: policy rotation

  // create site
  auto* create = app.add_subcommand("create", "create resources")->require_subcommand(1);
  std::string site_name;
  auto* c_site = create->add_subcommand("site", "create a site");
  c_site->add_option("name", site_name, "site name")->required();
  c_site->callback([&] {
    action = [&] {
      auto c = Client(g);
      return c ? Finish((*c)->CreateSite(site_name)) : Report(c.error());
    };
  });

  // token
  auto* token = app.add_subcommand("token", "enrollment tokens")->require_subcommand(1);
  std::string token_site, token_ttl = "1h";
  auto* t_create = token->add_subcommand("create", "create a one-time enrollment token for a site");
  t_create->add_option("--site", token_site, "site the enrolled device joins")->required();
  t_create->add_option("--ttl", token_ttl, "validity, e.g. 15m, 1h, 2d (max 7d)")->capture_default_str();
  t_create->callback([&] {
    action = [&] {
      auto ttl = ParseDurationSeconds(token_ttl);
      if (!ttl) {
        std::cerr << "edgectl: --ttl: " << ttl.error().message << "\n";
        return kExitUsage;
      }
      auto c = Client(g);
      return c ? Finish((*c)->CreateToken(token_site, *ttl, Format(g))) : Report(c.error());
    };
  });

  // deploy model, rollout get|describe|watch|pause|resume|abort
  auto* deploy = app.add_subcommand("deploy", "deploy to devices")->require_subcommand(1);
  RegisterRolloutCommands(app, *deploy, [&g] { return ContextOf(g); }, g.output, exit_code);

  // get / describe
  std::string what;
  GetFilters get_filters;
  auto* get = app.add_subcommand("get", "list devices, sites, models, rollouts, audit entries or controllers");
  get->add_option("what", what, "devices|sites|models|rollouts|audit|controllers")
      ->required()
      ->check(CLI::IsMember({"devices", "sites", "models", "rollouts", "audit", "controllers"}));
  get->add_option("--site", get_filters.site, "only this site (devices)");
  get->add_option("-l,--selector", get_filters.selector, "only devices whose labels match, e.g. line=3,camera!=ir");
  get->add_option("--actor", get_filters.actor, "only this actor, e.g. operator/alice (audit)");
  get->add_option("--action", get_filters.action, "only this action, e.g. rollout.create or CreateRollout (audit)");
  get->add_option("--result", get_filters.result,
                  "only this result (audit): ok, permission_denied, invalid_argument, not_found, "
                  "failed_precondition, already_exists")
      ->check(CLI::IsMember({"ok", "permission_denied", "invalid_argument", "not_found", "failed_precondition",
                             "already_exists"}));
  auto* refused = get->add_flag_callback("--refused", [&get_filters] { get_filters.result = "refused"; },
                                         "only refused calls, whatever their code (audit)");
  refused->excludes(get->get_option("--result"));
  get->add_option("--limit", get_filters.limit, "newest entries to show (audit)")->check(CLI::Range(1, 1000));
  bool watch = false;
  std::string watch_interval = "2s";
  get->add_flag("-w,--watch", watch, "keep asking; print the list again each time it changes (Ctrl-C ends)");
  get->add_option("--interval", watch_interval, "how often --watch asks, e.g. 2s, 1m")->capture_default_str();
  get->callback([&] {
    action = [&] {
      auto interval = ParseDurationSeconds(watch_interval);
      if (!interval) {
        std::cerr << "edgectl: --interval: " << interval.error().message << "\n";
        return kExitUsage;
      }
      std::unique_ptr<OperatorClient> client;
      auto once = [&]() -> Status {
        if (what == "rollouts") {
          EDGE_ASSIGN_OR_RETURN(auto ctx, ContextOf(g));
          return GetRollouts(ctx, Format(g) == OutputFormat::kJson, false);
        }
        if (!client) {
          EDGE_ASSIGN_OR_RETURN(client, Client(g));
        }
        return client->Get(what, get_filters, Format(g));
      };
      if (!watch) return Finish(once());
      return WatchOutput(once, std::chrono::seconds(*interval));
    };
  });
  std::string device_id, describe_selector;
  auto* describe = app.add_subcommand("describe", "show one resource in detail")->require_subcommand(1);
  auto* desc_device = describe->add_subcommand("device", "a device: state, models, certificate, events");
  desc_device->add_option("id", device_id, "device id");
  desc_device->add_option("-l,--selector", describe_selector, "every device whose labels match, e.g. line=3");
  desc_device->callback([&] {
    if (device_id.empty() == describe_selector.empty())
      throw CLI::ValidationError("describe device", "give a device ID or -l SELECTOR (one of the two)");
    action = [&] {
      auto c = Client(g);
      if (!c) return Report(c.error());
      return Finish(device_id.empty() ? (*c)->DescribeDevices(describe_selector, Format(g))
                                      : (*c)->DescribeDevice(device_id, Format(g)));
    };
  });

  // revoke, decommission, token list|revoke, operator: the identity lifecycle (admin).
  RegisterIdentityCommands(app, *token, [&g] { return ContextOf(g); }, g.output, exit_code);
  RegisterVersionCommand(app, [&g] { return ContextOf(g); }, g.output, exit_code);
  RegisterDeleteCommands(app, [&g] { return ContextOf(g); }, g.output, exit_code);  // delete device|token|operator|site

  // completion bash|zsh: made from the command tree as it stands when the command runs.
  std::string shell;
  auto* completion = app.add_subcommand("completion", "print a shell completion script: source <(edgectl completion bash)");
  completion->add_option("shell", shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  completion->callback([&] {
    action = [&] {
      std::cout << CompletionScript(app, shell);
      return kExitOk;
    };
  });

  // config get-contexts|current-context|use-context: the contexts file, no controller needed.
  auto* cfg = app.add_subcommand("config", "show or switch the contexts of the edgectl config file")->require_subcommand(1);
  auto config_file = [&g] { return g.config.empty() ? DefaultConfigPath() : std::filesystem::path(g.config); };
  cfg->add_subcommand("get-contexts", "list the contexts; * marks the current one")->callback([&] {
    action = [&] {
      auto list = ListContexts(config_file());
      if (!list) return Report(list.error());
      if (Format(g) == OutputFormat::kJson) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& c : list->contexts)
          out.push_back({{"name", c.name}, {"current", c.name == list->current}, {"controller", c.controller},
                         {"ca", c.ca.string()}, {"cert", c.cert.string()}, {"key", c.key.string()},
                         {"connect_timeout_ms", c.connect_timeout.count()}});
        PrintJson(out);
        return kExitOk;
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : list->contexts)
        rows.push_back({c.name == list->current ? "*" : "", c.name, c.controller, c.cert.string()});
      PrintTable({"CURRENT", "NAME", "CONTROLLER", "CERT"}, rows);
      return kExitOk;
    };
  });
  cfg->add_subcommand("current-context", "print the current context's name")->callback([&] {
    action = [&] {
      auto ctx = LoadContext(config_file(), "");
      if (!ctx) return Report(ctx.error());
      std::cout << ctx->name << "\n";
      return kExitOk;
    };
  });
  std::string use_name;
  auto* use = cfg->add_subcommand("use-context", "make NAME the current context (the file keeps everything else)");
  use->add_option("name", use_name, "context name")->required();
  use->callback([&] {
    action = [&] {
      if (auto s = UseContext(config_file(), use_name); !s) return Report(s.error());
      std::cerr << "switched to context " << use_name << "\n";
      return kExitOk;
    };
  });

  // A reference of our own keeps gRPC initialized to the end, and every end is _Exit: a channel
  // that was still connecting (a connect timeout over a slow link) is torn down by gRPC's own
  // threads, and exit()'s handlers (OPENSSL_cleanup among them) raced them: SIGSEGV after the
  // output was printed, under load, even after grpc_shutdown_blocking. The operator commands run
  // inside the parse (their callbacks), the others as `action` after it. Everything edgectl
  // writes is written and closed by then; only the standard streams need a flush.
  grpc_init();
  exit_code = ParseAndRun(app, argc, argv, exit_code, action);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(exit_code);
}
