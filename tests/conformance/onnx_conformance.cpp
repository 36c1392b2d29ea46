// Runs ONNX's backend test cases (Debian's libonnx-testdata) through the engine exactly as
// shipped, and checks the results against a committed expectations file.
//
//   edge_onnx_conformance case DIR
//       One case in this process: prints PASS, REFUSED <why> or WRONG <what> (exit 0, 3, 4).
//   edge_onnx_conformance suite --data DIR --expect FILE [--update] [--table FILE]
//       Every case of the node, pytorch-converted and pytorch-operator suites, each in its own
//       child process with a timeout, so a crash or a hang is a result rather than the end of
//       the run. Cases whose operators the engine claims (SupportedOperators) and every
//       PyTorch case are checked against FILE; every other case must be refused cleanly.
//       --update rewrites FILE from this run; --table writes docs/engine.md's table.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/lower.h"
#include "edge_onnx/onnx.pb.h"

namespace {

namespace eng = edge::engine;

constexpr int kExitPass = 0, kExitRefused = 3, kExitWrong = 4, kExitHarness = 5;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// One reference tensor, every element type widened to double.
struct RefTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<double> values;
  bool ok = false;
  std::string error;
};

template <typename T>
void FromRaw(const std::string& raw, std::vector<double>& out) {
  const size_t n = raw.size() / sizeof(T);
  out.resize(n);
  for (size_t k = 0; k < n; ++k) {
    T v;
    std::memcpy(&v, raw.data() + k * sizeof(T), sizeof(T));
    out[k] = static_cast<double>(v);
  }
}

double HalfToDouble(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  const double sign = (h & 0x8000) != 0 ? -1.0 : 1.0;
  if (exponent == 0x1f) return mantissa != 0 ? NAN : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

double BFloat16ToDouble(uint16_t b) {
  const uint32_t bits = uint32_t{b} << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

RefTensor ReadTensor(const std::string& path) {
  RefTensor t;
  onnx::TensorProto p;
  const std::string bytes = ReadFile(path);
  if (bytes.empty() || !p.ParseFromString(bytes)) {
    t.error = "not a TensorProto: " + path;
    return t;
  }
  t.name = p.name();
  t.shape.assign(p.dims().begin(), p.dims().end());
  const std::string& raw = p.raw_data();
  using TP = onnx::TensorProto;
  switch (p.data_type()) {
    case TP::FLOAT:
      if (p.has_raw_data()) FromRaw<float>(raw, t.values); else t.values.assign(p.float_data().begin(), p.float_data().end());
      break;
    case TP::DOUBLE:
      if (p.has_raw_data()) FromRaw<double>(raw, t.values); else t.values.assign(p.double_data().begin(), p.double_data().end());
      break;
    case TP::INT64:
      if (p.has_raw_data()) FromRaw<int64_t>(raw, t.values); else t.values.assign(p.int64_data().begin(), p.int64_data().end());
      break;
    case TP::INT32:
      if (p.has_raw_data()) FromRaw<int32_t>(raw, t.values); else t.values.assign(p.int32_data().begin(), p.int32_data().end());
      break;
    case TP::INT8:
      if (p.has_raw_data()) FromRaw<int8_t>(raw, t.values); else t.values.assign(p.int32_data().begin(), p.int32_data().end());
      break;
    case TP::UINT8:
    case TP::BOOL:
      if (p.has_raw_data()) FromRaw<uint8_t>(raw, t.values); else t.values.assign(p.int32_data().begin(), p.int32_data().end());
      break;
    case TP::FLOAT16:
    case TP::BFLOAT16: {
      // 16-bit patterns, in raw_data or one per int32_data element.
      std::vector<double> bits;
      if (p.has_raw_data()) FromRaw<uint16_t>(raw, bits); else bits.assign(p.int32_data().begin(), p.int32_data().end());
      for (double b : bits) {
        const auto pattern = static_cast<uint16_t>(b);
        t.values.push_back(p.data_type() == TP::FLOAT16 ? HalfToDouble(pattern) : BFloat16ToDouble(pattern));
      }
      break;
    }
    default:
      t.error = "element type " + std::to_string(p.data_type()) + " in " + path + " is not read by this harness";
      return t;
  }
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  if (static_cast<int64_t>(t.values.size()) != n) {
    t.error = path + ": " + std::to_string(t.values.size()) + " values for its shape";
    return t;
  }
  t.ok = true;
  return t;
}

std::vector<RefTensor> ReadTensors(const std::string& set_dir, const std::string& prefix) {
  std::vector<RefTensor> out;
  for (int i = 0;; ++i) {
    const std::string path = set_dir + "/" + prefix + "_" + std::to_string(i) + ".pb";
    if (access(path.c_str(), R_OK) != 0) break;
    out.push_back(ReadTensor(path));
  }
  return out;
}

std::string ShapeText(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "," : "") + std::to_string(s[i]);
  return t + "]";
}

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\t', ' ');
  return s;
}

// ONNX's backend runner compares with numpy's assert_allclose(rtol=1e-3, atol=1e-7).
constexpr double kRtol = 1e-3, kAtol = 1e-7;

// Runs one test_data_set through `model` and compares every output; on a failure prints the
// verdict line and returns its exit code.
int CheckSet(const std::shared_ptr<const eng::Model>& shared, const std::string& set, const std::vector<RefTensor>& inputs,
             const std::vector<RefTensor>& expected) {
  const eng::Model& model = *shared;
  if (inputs.size() != model.inputs().size() || expected.size() != model.outputs().size()) {
    std::printf("WRONG %s: the model takes %zu inputs and gives %zu outputs; the test has %zu and %zu\n",
                set.c_str(), model.inputs().size(), model.outputs().size(), inputs.size(), expected.size());
    return kExitWrong;
  }
  std::vector<std::vector<float>> in_data(inputs.size());
  std::vector<const float*> in_ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& info = model.inputs()[i];
    if (inputs[i].shape != info.shape) {
      std::printf("WRONG %s: input %zu is %s, the engine expects %s\n", set.c_str(), i,
                  ShapeText(inputs[i].shape).c_str(), ShapeText(info.shape).c_str());
      return kExitWrong;
    }
    in_data[i].assign(inputs[i].values.begin(), inputs[i].values.end());
    in_ptrs.push_back(in_data[i].data());
  }
  std::vector<std::vector<float>> out_data(expected.size());
  std::vector<float*> out_ptrs;
  for (size_t i = 0; i < expected.size(); ++i) {
    out_data[i].assign(static_cast<size_t>(model.outputs()[i].elements), 0.0f);
    out_ptrs.push_back(out_data[i].data());
  }
  eng::ExecutionContext ctx(shared);
  auto run = ctx.Run(in_ptrs, out_ptrs);
  if (!run) {
    std::printf("WRONG %s: run failed: %s\n", set.c_str(), OneLine(run.error().message).c_str());
    return kExitWrong;
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& info = model.outputs()[i];
    if (info.shape != expected[i].shape) {
      std::printf("WRONG %s: output '%s' is %s, expected %s\n", set.c_str(), info.name.c_str(),
                  ShapeText(info.shape).c_str(), ShapeText(expected[i].shape).c_str());
      return kExitWrong;
    }
    for (size_t k = 0; k < expected[i].values.size(); ++k) {
      const double want = expected[i].values[k];
      const double got = out_data[i][k];
      // Integer outputs must be exact (as far as a float holds them: int64 beyond 2^24 rounds).
      const bool same = eng::IsIntegerType(info.dtype)
                            ? got == static_cast<double>(static_cast<float>(want))
                            : (std::isnan(want) && std::isnan(got)) || want == got ||
                                  std::fabs(got - want) <= kAtol + kRtol * std::fabs(want);
      if (!same) {
        std::printf("WRONG %s: output '%s' element %zu is %.9g, expected %.9g\n", set.c_str(),
                    info.name.c_str(), k, got, want);
        return kExitWrong;
      }
    }
  }
  return kExitPass;
}

// The test sets of a case, each with its inputs and expected outputs read; kExitHarness (printed)
// when a file cannot be read.
struct TestSet {
  std::string name, dir;
  std::vector<RefTensor> inputs, expected;
};

int ReadSets(const std::string& dir, std::vector<TestSet>* sets) {
  for (const std::string& set : ListDir(dir)) {
    if (set.rfind("test_data_set_", 0) != 0) continue;
    TestSet t{set, dir + "/" + set, {}, {}};
    t.inputs = ReadTensors(t.dir, "input");
    t.expected = ReadTensors(t.dir, "output");
    for (const auto* list : {&t.inputs, &t.expected}) {
      for (const auto& r : *list) {
        if (!r.ok) {
          std::printf("HARNESS %s\n", r.error.c_str());
          return kExitHarness;
        }
      }
    }
    sets->push_back(std::move(t));
  }
  if (sets->empty()) {
    std::printf("HARNESS no test_data_set_* in %s\n", dir.c_str());
    return kExitHarness;
  }
  return kExitPass;
}

// A case the engine refuses because a shape-giving input (Reshape's shape, Resize's sizes, ...)
// is fed at run time: each set run again with every input after the first baked into the model
// as an initializer, as an exported model holds them. kExitPass when every set then passes,
// kExitRefused (silent) when the engine still refuses, or the printed failure.
int RunWithConstantInputs(const std::string& model_bytes, const std::vector<TestSet>& sets) {
  for (const TestSet& set : sets) {
    onnx::ModelProto m;
    if (!m.ParseFromString(model_bytes)) return kExitRefused;
    auto* g = m.mutable_graph();
    std::set<std::string> inits;
    for (const auto& t : g->initializer()) inits.insert(t.name());
    std::vector<std::string> fed;  // the graph inputs the test feeds, in order
    for (const auto& in : g->input()) {
      if (inits.count(in.name()) == 0) fed.push_back(in.name());
    }
    if (fed.size() != set.inputs.size() || fed.size() < 2) return kExitRefused;
    for (size_t i = 1; i < fed.size(); ++i) {
      onnx::TensorProto t;
      if (!t.ParseFromString(ReadFile(set.dir + "/input_" + std::to_string(i) + ".pb"))) return kExitRefused;
      t.set_name(fed[i]);
      *g->add_initializer() = std::move(t);
      for (int k = 0; k < g->input_size(); ++k) {
        if (g->input(k).name() == fed[i]) {
          g->mutable_input()->DeleteSubrange(k, 1);
          break;
        }
      }
    }
    const std::string bytes = m.SerializeAsString();
    auto loaded = eng::Model::LoadMemory(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    if (!loaded) return kExitRefused;
    const int rc = CheckSet(*loaded, set.name + " (inputs after the first as constants)", {set.inputs[0]}, set.expected);
    if (rc != kExitPass) return rc;
  }
  return kExitPass;
}

int RunCase(const std::string& dir) {
  const std::string bytes = ReadFile(dir + "/model.onnx");
  auto loaded = eng::Model::LoadMemory(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  std::vector<TestSet> sets;
  if (!loaded) {
    const std::string why = OneLine(loaded.error().message);
    if (why.find("must be a constant") != std::string::npos) {
      if (const int rc = ReadSets(dir, &sets); rc != kExitPass) return rc;
      const int rc = RunWithConstantInputs(bytes, sets);
      if (rc == kExitPass) {
        std::printf("REFUSED %s; passes with those inputs as constants\n", why.c_str());
        return kExitRefused;
      }
      if (rc != kExitRefused) return rc;
    }
    std::printf("REFUSED %s\n", why.c_str());
    return kExitRefused;
  }
  if (const int rc = ReadSets(dir, &sets); rc != kExitPass) return rc;
  for (const TestSet& set : sets) {
    if (const int rc = CheckSet(*loaded, set.name, set.inputs, set.expected); rc != kExitPass) return rc;
  }
  std::printf("PASS\n");
  return kExitPass;
}

// ---------------------------------------------------------------- the suite

struct Outcome {
  std::string status;  // pass, refused, wrong, crash, hang, harness
  std::string detail;
};

// Runs `self case dir` with a timeout; the child's first stdout line is its verdict.
Outcome RunChild(const std::string& self, const std::string& dir, int timeout_s) {
  int fds[2];
  if (pipe(fds) != 0) return {"harness", "pipe failed"};
  const pid_t pid = fork();
  if (pid < 0) return {"harness", "fork failed"};
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(self.c_str(), self.c_str(), "case", dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    const ssize_t got = read(fds[0], buf, sizeof buf);
    if (got <= 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out) return {"hang", "no verdict within " + std::to_string(timeout_s) + " s"};
  if (WIFSIGNALED(status)) return {"crash", std::string("signal ") + strsignal(WTERMSIG(status))};
  const std::string line = out.substr(0, out.find('\n'));
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto rest = [&](size_t skip) { return line.size() > skip ? line.substr(skip) : std::string(); };
  if (code == kExitPass && line == "PASS") return {"pass", ""};
  if (code == kExitRefused && line.rfind("REFUSED ", 0) == 0) return {"refused", rest(8)};
  if (code == kExitWrong && line.rfind("WRONG ", 0) == 0) return {"wrong", rest(6)};
  return {"harness", "exit " + std::to_string(code) + ": " + line};
}

// The operator types of a model's main graph (nested graphs belong to If/Loop/Scan, which the
// engine does not claim).
std::set<std::string> OpsOf(const std::string& model_path, int64_t* opset) {
  std::set<std::string> ops;
  onnx::ModelProto m;
  if (!m.ParseFromString(ReadFile(model_path))) return ops;
  for (const auto& o : m.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") *opset = o.version();
  }
  for (const auto& n : m.graph().node()) {
    ops.insert(n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type() : n.domain() + "." + n.op_type());
  }
  return ops;
}

struct Case {
  std::string id;  // suite/test_name
  std::string dir;
  std::set<std::string> ops;
  int64_t opset = 0;
  bool selected = false;  // checked against the expectations file
  Outcome got;
};

struct Expectation {
  std::string status;  // pass or refused
  std::string reason;
};

std::map<std::string, Expectation> ReadExpectations(const std::string& path) {
  std::map<std::string, Expectation> e;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::string id, status, reason;
    std::getline(s, id, '\t');
    std::getline(s, status, '\t');
    std::getline(s, reason);
    e[id] = {status, reason};
  }
  return e;
}

void WriteExpectations(const std::string& path, const std::vector<Case>& cases) {
  std::ofstream out(path);
  out << "# ONNX backend conformance of the engine, as shipped (tests/conformance/README.md).\n"
         "# <suite>/<test>\\t<pass|refused>\\t<the refusal, for refused>. Regenerate with\n"
         "# edge_onnx_conformance suite --data /usr/share/libonnx-testdata/data --expect <this file> --update\n";
  for (const auto& c : cases) {
    if (!c.selected) continue;
    out << c.id << '\t' << c.got.status;
    if (c.got.status == "refused") out << '\t' << c.got.detail;
    out << '\n';
  }
}

void WriteTable(const std::string& path, const std::vector<Case>& cases) {
  std::ofstream out(path);
  out << "| operator | from opset | forms | node tests passed | refused |\n|---|---|---|---|---|\n";
  for (const auto& op : eng::SupportedOperators()) {
    int pass = 0, refused = 0;
    for (const auto& c : cases) {
      if (c.id.rfind("node/", 0) != 0 || !c.selected || c.ops.count(op.op) == 0) continue;
      (c.got.status == "pass" ? pass : refused) += 1;
    }
    out << "| " << op.op << " | " << op.since_opset << " | " << op.forms << " | " << pass << " | " << refused << " |\n";
  }
}

int RunSuite(const std::string& self, const std::string& data, const std::string& expect_path,
             bool update, const std::string& table_path) {
  std::set<std::string> claimed;
  for (const auto& op : eng::SupportedOperators()) claimed.insert(op.op);
  std::vector<Case> cases;
  for (const char* suite : {"node", "pytorch-converted", "pytorch-operator"}) {
    const std::string suite_dir = data + "/" + suite;
    if (!IsDir(suite_dir)) {
      std::fprintf(stderr, "onnx_conformance: %s is missing (install libonnx-testdata)\n", suite_dir.c_str());
      return 2;
    }
    for (const std::string& name : ListDir(suite_dir)) {
      Case c;
      c.id = std::string(suite) + "/" + name;
      c.dir = suite_dir + "/" + name;
      if (access((c.dir + "/model.onnx").c_str(), R_OK) != 0) continue;
      c.ops = OpsOf(c.dir + "/model.onnx", &c.opset);
      const bool all_claimed = !c.ops.empty() && std::all_of(c.ops.begin(), c.ops.end(), [&](const std::string& o) { return claimed.count(o) != 0; });
      c.selected = all_claimed;
      cases.push_back(std::move(c));
    }
  }
  const auto expected = ReadExpectations(expect_path);
  std::map<std::string, int> counts;
  std::vector<std::string> failures, notes;
  const auto start = std::chrono::steady_clock::now();
  for (auto& c : cases) {
    c.got = RunChild(self, c.dir, 30);
    const std::string group = c.id.substr(0, c.id.find('/')) + (c.selected ? " claimed" : " unclaimed");
    counts[group + " " + c.got.status] += 1;
    const std::string what = c.id + ": " + c.got.status + (c.got.detail.empty() ? "" : " (" + c.got.detail + ")");
    if (c.got.status != "pass" && c.got.status != "refused") {
      failures.push_back(what);
      continue;
    }
    if (!c.selected) {
      if (c.got.status == "pass") notes.push_back(c.id + ": passes though it uses an operator the engine does not claim");
      else if (c.got.detail.empty()) failures.push_back(c.id + ": refused without a reason");
      continue;
    }
    if (update) continue;
    auto it = expected.find(c.id);
    if (it == expected.end()) {
      failures.push_back(c.id + ": not in the expectations file (got " + c.got.status + "); run with --update");
    } else if (it->second.status == "pass" && c.got.status != "pass") {
      failures.push_back(c.id + ": passed before, now " + what);
    } else if (it->second.status == "refused" && c.got.status == "pass") {
      failures.push_back(c.id + ": now passes; the expectations file says refused (run with --update)");
    } else if (it->second.status == "refused" && it->second.reason != c.got.detail) {
      notes.push_back(c.id + ": refused for another reason: " + c.got.detail);
    }
  }
  if (!update) {
    for (const auto& [id, e] : expected) {
      if (std::none_of(cases.begin(), cases.end(), [&](const Case& c) { return c.id == id && c.selected; })) {
        failures.push_back(id + ": in the expectations file but not selected by this run");
      }
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("onnx_conformance: %zu cases in %.1f s\n", cases.size(), secs);
  for (const auto& [k, v] : counts) std::printf("  %-32s %d\n", k.c_str(), v);
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
  for (const auto& f : failures) std::printf("FAIL: %s\n", f.c_str());
  if (update) WriteExpectations(expect_path, cases);
  if (!table_path.empty()) WriteTable(table_path, cases);
  return failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "case") return RunCase(args[1]);
  if (!args.empty() && args[0] == "suite") {
    std::string data, expect, table;
    bool update = false;
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "--update") {
        update = true;
      } else if (i + 1 < args.size() && args[i] == "--data") {
        data = args[++i];
      } else if (i + 1 < args.size() && args[i] == "--expect") {
        expect = args[++i];
      } else if (i + 1 < args.size() && args[i] == "--table") {
        table = args[++i];
      } else {
        std::fprintf(stderr, "onnx_conformance: unknown argument '%s'\n", args[i].c_str());
        return 2;
      }
    }
    if (data.empty() || expect.empty()) {
      std::fprintf(stderr, "onnx_conformance suite: --data and --expect are required\n");
      return 2;
    }
    if (!IsDir(data)) {
      // ctest's SKIP_REGULAR_EXPRESSION: a machine without the test data skips, never passes.
      std::printf("EDGE-TEST-SKIPPED: %s is missing (deploy/install-deps.sh installs libonnx-testdata)\n", data.c_str());
      return 0;
    }
    return RunSuite("/proc/self/exe", data, expect, update, table);
  }
  std::fprintf(stderr,
               "usage: edge_onnx_conformance case DIR\n"
               "       edge_onnx_conformance suite --data DIR --expect FILE [--update] [--table FILE]\n");
  return 2;
}
