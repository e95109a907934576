// The fixture the sync and import tests share: a generated source the test can change as a
// server's data changes, a warehouse, and readers for both (the tables through DuckDB).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/sample_generator.h"
#include "fhirlake/http/client.h"
#include "tests/support/duckdb.h"
#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {

namespace fs = std::filesystem;
using nlohmann::json;

inline const std::vector<std::string> kTypes = {"Patient", "Observation"};

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fhir::GenerateSample(src(), {12, 5, 100000}).ok()); }
  fs::path src() const { return dir_ / "source"; }
  fs::path wh() const { return dir_ / "warehouse"; }

  std::vector<std::string> SyncArgs(const ServerProcess& server, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"sync", "--source", server.base_url(), "--warehouse", wh().string(),
                                     "--types", "Patient,Observation", "--poll-interval", "50ms", "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  RunResult Sync(const ServerProcess& server, std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    return RunFhirlake(SyncArgs(server, std::move(extra)), env);
  }

  static std::vector<std::string> Lines(const fs::path& file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  }
  static void WriteLines(const fs::path& file, const std::vector<std::string>& lines) {
    std::ofstream out(file, std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
  }

  // Changes the source as a server's data changes: two patients and an observation updated
  // (meta.lastUpdated now), one patient and one observation deleted (gone from the files, a
  // DELETE entry under deleted/), one patient added.
  void ChangeSource() {
    const std::string now = fhir::FormatInstant(fhir::NowMicros() + 1000);
    auto patients = Lines(src() / "Patient.000.ndjson");
    auto observations = Lines(src() / "Observation.000.ndjson");
    for (int i : {0, 1}) {
      json p = json::parse(patients[i]);
      p["meta"]["lastUpdated"] = now;
      p["gender"] = "other";
      patients[i] = p.dump();
    }
    json o = json::parse(observations[0]);
    o["meta"]["lastUpdated"] = now;
    o["status"] = "amended";
    observations[0] = o.dump();
    deleted_patient_ = json::parse(patients[2])["id"];
    deleted_observation_ = json::parse(observations[1])["id"];
    patients.erase(patients.begin() + 2);
    observations.erase(observations.begin() + 1);
    patients.push_back(json{{"resourceType", "Patient"}, {"id", "added-later"}, {"meta", {{"lastUpdated", now}}},
                            {"gender", "unknown"}}.dump());
    WriteLines(src() / "Patient.000.ndjson", patients);
    WriteLines(src() / "Observation.000.ndjson", observations);
    fs::create_directories(src() / "deleted");
    json bundle = {{"resourceType", "Bundle"}, {"type", "transaction"}, {"meta", {{"lastUpdated", now}}},
                   {"entry", {{{"request", {{"method", "DELETE"}, {"url", "Patient/" + deleted_patient_}}}},
                              {{"request", {{"method", "DELETE"}, {"url", "Observation/" + deleted_observation_}}}}}}};
    WriteLines(src() / "deleted" / "Bundle.000.ndjson", {bundle.dump()});
  }

  // id → _json of a table, as DuckDB reads it; duplicates fail the test.
  std::map<std::string, std::string> Table(const std::string& type) {
    std::map<std::string, std::string> out;
    json rows = DuckDb("SELECT id, _json FROM t", {{"t", wh() / type}});
    EXPECT_TRUE(rows.is_array()) << rows.dump();
    if (!rows.is_array()) return out;
    for (const auto& r : rows) {
      EXPECT_FALSE(out.count(r["id"])) << type << " has " << r["id"] << " twice";
      out[r["id"]] = r["_json"];
    }
    return out;
  }
  // What the source holds now, id → line.
  std::map<std::string, std::string> Source(const std::string& type) {
    std::map<std::string, std::string> out;
    for (const auto& l : Lines(src() / (type + ".000.ndjson"))) out[json::parse(l)["id"]] = l;
    return out;
  }
  void ExpectWarehouseEqualsSource(const std::string& context) {
    for (const auto& type : kTypes) EXPECT_TRUE(Table(type) == Source(type)) << type << " after " << context;
  }
  json State() { return json::parse(ReadFile(wh() / "_fhirlake" / "state.json"), nullptr, false); }

  // One HTTP request without retries: a 202 or a 503 is the answer under test, not a reason to
  // try again. A transport failure gives status 0.
  static http::Response Http(const std::string& method, const std::string& url, const std::string& body = "",
                             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::ClientOptions once;
    once.retry.max_attempts = 1;
    http::Client client(once);
    http::Request req;
    req.method = method;
    req.url = url;
    req.body = body;
    req.send_token = false;
    for (const auto& [name, value] : headers) req.headers.Add(name, value);
    auto r = client.Send(req);
    return r.ok() ? r.value() : http::Response{};
  }
  // Runs a merge $import-pnp on `importer` from `source` (with `_since` unless empty) and polls
  // its job to the end; the final response (status 0 if it never ended within a minute).
  static http::Response ImportPnp(const std::string& importer, const std::string& source,
                                  const std::string& since = "") {
    json p = {{"resourceType", "Parameters"},
              {"parameter", {{{"name", "exportUrl"}, {"valueUrl", source}},
                             {{"name", "saveMode"}, {"valueCode", "merge"}}}}};
    if (!since.empty()) p["parameter"].push_back({{"name", "_since"}, {"valueInstant", since}});
    auto kick = Http("POST", importer + "/$import-pnp", p.dump(),
                     {{"Content-Type", "application/fhir+json"}, {"Prefer", "respond-async"}});
    EXPECT_EQ(kick.status, 202) << kick.body;
    const std::string location = kick.headers.Get("Content-Location").value_or("");
    http::Response done;
    EXPECT_TRUE(WaitFor([&] {
      done = Http("GET", location);
      return done.status != 202;
    }, std::chrono::seconds(60)));
    return done;
  }
  std::string StateEntry(const std::string& field) {
    json s = State();
    if (!s.is_object() || s["syncs"].empty()) return "";
    const json& e = s["syncs"].begin().value();
    return e.contains(field) ? e[field].dump() : "";
  }

  TempDir dir_;
  std::string deleted_patient_, deleted_observation_;
};

}  // namespace fhirlake::testing
