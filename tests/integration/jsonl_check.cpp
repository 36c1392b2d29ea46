// edge-jsonl-check: checks that every line of the given log files is one JSON object with the
// fields every line of ours has (ts, level, component, msg), and prints how many lines each
// component wrote:
//   edge-jsonl-check FILE...   →  "FILE: N lines; controller=12 grpc=3", exit 1 at the first bad line
// The integration tests use it to show that nothing (gRPC, protobuf) writes plain text into a
// daemon's log.
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace {

bool IsOurLine(const nlohmann::json& line) {
  if (!line.is_object()) return false;
  for (const char* key : {"ts", "level", "component", "msg"})
    if (!line.contains(key) || !line[key].is_string()) return false;
  return true;
}

int Check(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << path << ": cannot read\n";
    return 1;
  }
  std::map<std::string, int> by_component;
  int number = 0;
  for (std::string text; std::getline(in, text);) {
    ++number;
    auto line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!IsOurLine(line)) {
      std::cerr << path << ":" << number << ": not a JSON log line: " << text.substr(0, 200) << "\n";
      return 1;
    }
    ++by_component[line["component"].get<std::string>()];
  }
  std::cout << path << ": " << number << " lines;";
  for (const auto& [component, count] : by_component) std::cout << " " << component << "=" << count;
  std::cout << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge-jsonl-check: every line of each FILE is one of our JSON log lines"};
  std::vector<std::string> files;
  app.add_option("files", files, "log files")->required()->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  int rc = 0;
  for (const auto& f : files) rc |= Check(f);
  return rc;
}
