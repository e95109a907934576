#include "tests/e2e/export_fixture.h"

#include <fstream>
#include <set>

#include "fhirlake/fhir/sample_generator.h"

namespace fhirlake::testing {
namespace fs = std::filesystem;

void ExportTest::Generate(int patients, int per_file) {
  fs::remove_all(source());
  auto r = fhir::GenerateSample(source(), {static_cast<uint64_t>(patients), 42, static_cast<uint64_t>(per_file)});
  ASSERT_TRUE(r.ok()) << r.status().message();
}

RunResult ExportTest::Export(const ServerProcess& server, std::vector<std::string> args, std::vector<std::string> env) {
  std::vector<std::string> argv{"export", server.base_url(), out().string(), "--poll-interval", "100ms"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunFhirlake(argv, env);
}

void ExportTest::ExpectOutputEqualsSource() {
  std::set<std::string> src_names, out_names;
  for (const auto& e : fs::directory_iterator(source())) {
    if (e.is_regular_file()) src_names.insert(e.path().filename().string());
  }
  for (const auto& e : fs::directory_iterator(out())) {
    std::string n = e.path().filename().string();
    if (e.is_regular_file() && n.ends_with(".ndjson") && n != "log.ndjson") out_names.insert(n);
  }
  EXPECT_EQ(src_names, out_names);
  for (const auto& n : src_names) {
    EXPECT_TRUE(ReadFile(source() / n) == ReadFile(out() / n)) << n << " differs from the source";
  }
}

nlohmann::json ExportTest::ReadManifest() const {
  return nlohmann::json::parse(ReadFile(out() / "manifest.json"), nullptr, false);
}

std::vector<nlohmann::json> ExportTest::LogEvents() const {
  std::vector<nlohmann::json> events;
  std::ifstream in(out() / "log.ndjson");
  std::string line;
  while (std::getline(in, line)) events.push_back(nlohmann::json::parse(line, nullptr, false));
  return events;
}

std::map<std::string, std::vector<std::string>> ExportTest::OutputLines() const {
  std::map<std::string, std::vector<std::string>> out_lines;
  for (const auto& e : fs::directory_iterator(out())) {
    std::string n = e.path().filename().string();
    if (!e.is_regular_file() || !n.ends_with(".ndjson") || n == "log.ndjson") continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) out_lines[n.substr(0, n.find('.'))].push_back(line);
  }
  return out_lines;
}

std::vector<nlohmann::json> ExportTest::RequestsTo(const ServerProcess& s, const std::string& fragment) {
  std::vector<nlohmann::json> out;
  for (auto& r : s.Requests()) {
    if (r["path"].get<std::string>().find(fragment) != std::string::npos) out.push_back(r);
  }
  return out;
}

}  // namespace fhirlake::testing
