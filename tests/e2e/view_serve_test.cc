// SQL on FHIR views in `fhirlake serve`, over loopback with real server processes:
// $viewdefinition-run (and the IG's ViewDefinition/$run) answers what `fhirlake view run` gives
// on the same data, refuses invalid views and missing scopes; `serve --views` refreshes the
// materialised views after each import, read back by DuckDB.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "tests/e2e/sync_fixture.h"

namespace fhirlake::testing {
namespace {

const fs::path kViews = fs::path(FHIRLAKE_TEST_DATA_DIR) / "views";

std::vector<std::string> TextLines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

class ViewServeTest : public SyncTest {
 protected:
  static json ViewFile() { return json::parse(ReadFile(kViews / "observation_values.json")); }
  static json RunBody(const json& view, std::vector<json> extra = {}) {
    json p = {{"resourceType", "Parameters"}, {"parameter", {{{"name", "viewResource"}, {"resource", view}}}}};
    for (auto& e : extra) p["parameter"].push_back(e);
    return p;
  }
  static http::Response Post(const std::string& url, const json& body,
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Content-Type", "application/fhir+json");
    return Http("POST", url, body.dump(), headers);
  }
  RunResult ViewRun(const std::vector<std::string>& data, const std::string& format) {
    std::vector<std::string> args = {"view", "run", (kViews / "observation_values.json").string(), "--format", format};
    args.insert(args.end(), data.begin(), data.end());
    return RunFhirlake(args);
  }
};

TEST_F(ViewServeTest, RunAnswersWhatViewRunGivesOnTheSameData) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  const json view = ViewFile();
  for (const std::string format : {"csv", "ndjson"}) {
    auto cli = ViewRun({"--ndjson", src().string()}, format);
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    ASSERT_GT(TextLines(cli.out).size(), 10u);
    auto by_param = Post(server.base_url() + "/$viewdefinition-run",
                         RunBody(view, {{{"name", "_format"}, {"valueCode", format}}}));
    EXPECT_EQ(by_param.status, 200) << by_param.body;
    EXPECT_EQ(by_param.body, cli.out) << format << " by _format";
    EXPECT_EQ(by_param.headers.Get("Content-Type").value_or(""), format == "csv" ? "text/csv" : "application/x-ndjson");
    auto by_accept = Post(server.base_url() + "/ViewDefinition/$run", RunBody(view),
                          {{"Accept", format == "csv" ? "text/csv" : "application/x-ndjson"}});
    EXPECT_EQ(by_accept.status, 200) << by_accept.body;
    EXPECT_EQ(by_accept.body, cli.out) << format << " by Accept, at ViewDefinition/$run";
  }

  // _limit, header=false and patient narrow the same rows.
  auto cli = TextLines(ViewRun({"--ndjson", src().string()}, "ndjson").out);
  auto limited = Post(server.base_url() + "/$viewdefinition-run",
                      RunBody(view, {{{"name", "_limit"}, {"valueInteger", 3}}}));
  EXPECT_EQ(TextLines(limited.body), std::vector<std::string>(cli.begin(), cli.begin() + 3));
  auto csv = TextLines(ViewRun({"--ndjson", src().string()}, "csv").out);
  auto headless = Post(server.base_url() + "/$viewdefinition-run",
                       RunBody(view, {{{"name", "_format"}, {"valueCode", "text/csv"}},
                                      {{"name", "header"}, {"valueBoolean", false}}}));
  EXPECT_EQ(TextLines(headless.body), std::vector<std::string>(csv.begin() + 1, csv.end()));
  const std::string patient = json::parse(cli[0])["patient_id"];
  std::vector<std::string> theirs;
  for (const auto& l : cli)
    if (json::parse(l)["patient_id"] == patient) theirs.push_back(l);
  auto one_patient = Post(server.base_url() + "/$viewdefinition-run",
                          RunBody(view, {{{"name", "patient"}, {"valueString", "Patient/" + patient}}}));
  EXPECT_FALSE(theirs.empty());
  EXPECT_LT(theirs.size(), cli.size());
  EXPECT_EQ(TextLines(one_patient.body), theirs);

  // Inline resources instead of the server's data.
  json obs = json::parse(Lines(src() / "Observation.000.ndjson")[0]);
  obs["id"] = "inline-1";
  auto inline_run = Post(server.base_url() + "/$viewdefinition-run",
                         RunBody(view, {{{"name", "resource"}, {"resource", obs}}}));
  ASSERT_EQ(inline_run.status, 200) << inline_run.body;
  auto rows = TextLines(inline_run.body);
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) EXPECT_EQ(json::parse(r)["id"], "inline-1");
}

TEST_F(ViewServeTest, RunOverTheWarehouseAnswersWhatViewRunGivesOverIt) {
  ASSERT_EQ(RunFhirlake({"load", src().string(), wh().string(), "--mode", "overwrite"}).exit_code, 0);
  ServerProcess server(fs::path(), {"--warehouse", wh().string()});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  for (const std::string format : {"csv", "ndjson"}) {
    auto cli = ViewRun({"--warehouse", wh().string()}, format);
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    auto served = Post(server.base_url() + "/$viewdefinition-run",
                       RunBody(ViewFile(), {{{"name", "_format"}, {"valueString", format}}}));
    EXPECT_EQ(served.status, 200) << served.body;
    EXPECT_GT(TextLines(served.body).size(), 10u);
    EXPECT_EQ(served.body, cli.out) << format;
  }
}

TEST_F(ViewServeTest, InvalidViewsAndUnsupportedParametersAre400WithAnOperationOutcome) {
  ServerProcess server(src());
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  const std::string url = server.base_url() + "/$viewdefinition-run";
  auto expect_400 = [&](const json& body, const std::string& code, const std::string& fragment) {
    auto r = Post(url, body);
    EXPECT_EQ(r.status, 400) << body.dump();
    json oo = json::parse(r.body, nullptr, false);
    EXPECT_EQ(oo.value("resourceType", ""), "OperationOutcome") << r.body;
    if (!oo.is_object()) return;
    EXPECT_EQ(oo["issue"][0]["code"], code) << r.body;
    EXPECT_NE(r.body.find(fragment), std::string::npos) << r.body;
  };
  json bad_path = ViewFile();
  bad_path["select"][0]["column"][0]["path"] = "name.where(";
  expect_400(RunBody(bad_path), "invalid", "invalid ViewDefinition");
  json no_resource = ViewFile();
  no_resource.erase("resource");
  expect_400(RunBody(no_resource), "invalid", "invalid ViewDefinition");
  expect_400(json{{"resourceType", "Parameters"}, {"parameter", json::array()}}, "invalid", "viewResource");
  expect_400(RunBody(ViewFile(), {{{"name", "_format"}, {"valueCode", "parquet"}}}), "invalid", "_format");
  expect_400(RunBody(ViewFile(), {{{"name", "group"}, {"valueString", "g1"}}}), "not-supported", "'group'");
  expect_400(RunBody(ViewFile(), {{{"name", "_limit"}, {"valueInteger", 0}}}), "invalid", "_limit");
}

TEST_F(ViewServeTest, WithAuthARunNeedsAReadScopeForTheViewsType) {
  std::ofstream(dir_ / "clients.json") << json{
      {"clients", {{{"clientId", "analyst"}, {"clientSecret", "analyst-secret"}, {"scopes", {"system/Observation.read"}}},
                   {{"clientId", "registrar"}, {"clientSecret", "registrar-secret"}, {"scopes", {"system/Patient.read"}}}}}}
                                              .dump();
  ServerProcess server(src(), {"--auth", (dir_ / "clients.json").string()});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  auto token = [&](const std::string& id, const std::string& scope) {
    auto got = Http("POST", server.base_url() + "/auth/token",
                    "grant_type=client_credentials&scope=" + scope + "&client_id=" + id + "&client_secret=" + id + "-secret",
                    {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(got.status, 200) << got.body;
    return json::parse(got.body, nullptr, false).value("access_token", "");
  };
  const std::string url = server.base_url() + "/$viewdefinition-run";
  const json body = RunBody(ViewFile());
  auto none = Post(url, body);
  EXPECT_EQ(none.status, 401) << none.body;
  EXPECT_NE(none.body.find("OperationOutcome"), std::string::npos);
  EXPECT_EQ(Post(url, body, {{"Authorization", "Bearer not-a-token"}}).status, 401);
  auto wrong = Post(url, body, {{"Authorization", "Bearer " + token("registrar", "system/Patient.read")}});
  EXPECT_EQ(wrong.status, 403) << wrong.body;
  EXPECT_NE(wrong.body.find("Observation"), std::string::npos) << wrong.body;
  auto right = Post(url, body, {{"Authorization", "Bearer " + token("analyst", "system/Observation.read")}});
  EXPECT_EQ(right.status, 200) << right.body;
  EXPECT_EQ(right.body, ViewRun({"--ndjson", src().string()}, "ndjson").out);
}

// `serve --views` (here from its --config file, key "views") refreshes the view table after each
// import: the first import's rows, then an update and a deletion from a second, incremental one.
TEST_F(ViewServeTest, ImportsRefreshTheMaterialisedViews) {
  ServerProcess a(src());
  ASSERT_TRUE(a.ok());
  fs::create_directories(dir_ / "views");
  fs::copy_file(kViews / "observation_values.json", dir_ / "views" / "observation_values.json");
  std::ofstream(dir_ / "serve.json") << json{{"views", {(dir_ / "views").string()}}}.dump();
  ServerProcess b(fs::path(), {"--warehouse", wh().string(), "--allow-source", a.base_url(), "--config",
                               (dir_ / "serve.json").string()});
  ASSERT_TRUE(b.ok()) << b.stderr_text();
  auto run_import = [&](const std::string& since) {
    http::Response done = ImportPnp(b.base_url(), a.base_url(), since);
    EXPECT_EQ(done.status, 200) << done.body;
    json result = json::parse(done.body, nullptr, false);
    return result.is_object() ? result["parameter"][0].value("valueInstant", "") : std::string();
  };
  // id|value|component_code of every row, sorted: from the view table, and from a fresh run.
  auto table_rows = [&] {
    std::vector<std::string> out;
    json rows = DuckDb("SELECT id, value::VARCHAR AS value, component_code FROM v",
                       {{"v", wh() / "_views" / "observation_values"}});
    EXPECT_TRUE(rows.is_array()) << rows.dump();
    if (rows.is_array())
      for (const auto& r : rows) out.push_back(r.dump());
    std::sort(out.begin(), out.end());
    return out;
  };
  auto fresh_rows = [&] {
    json rows = DuckDb("SELECT id, value::VARCHAR AS value, component_code FROM v",
                       {{"v", wh() / "_views" / "fresh"}});
    std::vector<std::string> out;
    if (rows.is_array())
      for (const auto& r : rows) out.push_back(r.dump());
    std::sort(out.begin(), out.end());
    return out;
  };
  // A second name for the same view, materialised from scratch on demand: what the table must hold.
  json fresh = ViewFile();
  fresh["name"] = "fresh";
  std::ofstream(dir_ / "fresh.json") << fresh.dump();
  auto recompute = [&] {
    fs::remove_all(wh() / "_views" / "fresh");
    auto r = RunFhirlake({"view", "materialize", (dir_ / "fresh.json").string(), "--warehouse", wh().string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  };

  const std::string first = run_import("");
  ASSERT_FALSE(first.empty());
  auto after_first = table_rows();
  EXPECT_GT(after_first.size(), 10u);
  recompute();
  EXPECT_EQ(after_first, fresh_rows()) << "the view table holds the imported rows";

  // The source changes: an Observation's value is updated.
  auto observations = Lines(src() / "Observation.000.ndjson");
  json changed = json::parse(observations[0]);
  changed["meta"]["lastUpdated"] = fhir::FormatInstant(fhir::NowMicros() + 1000);
  changed["valueQuantity"] = {{"value", 777.25}, {"unit", "kg"}};
  changed.erase("component");
  changed.erase("valueCodeableConcept");
  observations[0] = changed.dump();
  WriteLines(src() / "Observation.000.ndjson", observations);
  ASSERT_FALSE(run_import(first).empty());
  auto after_second = table_rows();
  EXPECT_NE(after_second, after_first);
  recompute();
  EXPECT_EQ(after_second, fresh_rows()) << "the view table follows the update";
  json hit = DuckDb("SELECT count(*)::INTEGER AS n FROM v WHERE id = '" + changed["id"].get<std::string>() +
                        "' AND value = 777.25",
                    {{"v", wh() / "_views" / "observation_values"}});
  ASSERT_TRUE(hit.is_array()) << hit.dump();
  EXPECT_EQ(hit[0]["n"], 1);
}

}  // namespace
}  // namespace fhirlake::testing
