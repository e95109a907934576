// Authenticated exports: fhirlake export → fhirlake serve --auth, with keys made by
// fhirlake keygen, client secrets, token refresh, discovery, rejections and secrecy.
#include <ctime>
#include <fstream>

#include "fhirlake/auth/jwt.h"
#include "fhirlake/auth/keys.h"
#include "fhirlake/http/client.h"

#include "tests/e2e/export_fixture.h"

namespace fhirlake::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class AuthExportTest : public ExportTest {
 protected:
  // Makes a key pair with `fhirlake keygen` into dir_/name.
  fs::path Keygen(const std::string& name, const std::string& alg) {
    auto r = RunFhirlake({"keygen", "--alg", alg, "--out", (dir_ / name).string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return dir_ / name;
  }
  // Writes the server's clients file.
  fs::path Clients(const json& clients) {
    auto path = dir_ / "clients.json";
    std::ofstream(path) << json{{"clients", clients}}.dump();
    return path;
  }
  static size_t TokenRequests(const ServerProcess& s) { return RequestsTo(s, "/auth/token").size(); }
};

class AuthAlgorithmTest : public AuthExportTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(AuthAlgorithmTest, KeygenKeyExportsEndToEnd) {
  auto keys = Keygen("keys", GetParam());
  EXPECT_EQ(fs::status(keys / "private.jwks.json").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  ServerProcess server(source(), {"--auth", clients.string()});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  auto r = Export(server, {"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  EXPECT_EQ(TokenRequests(server), 1u) << "one token serves the whole export";
  for (const auto& req : server.Requests()) {
    std::string path = req["path"];
    if (path.find("/$export") != std::string::npos || path.find("/bulk") != std::string::npos) {
      EXPECT_TRUE(req["authorization"].get<bool>()) << req;
      EXPECT_NE(req["status"], 401) << req;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Keys, AuthAlgorithmTest, ::testing::Values("RS384", "ES384"));

TEST_F(AuthExportTest, ClientSecretBasicAndPost) {
  std::ofstream(dir_ / "secret") << "correct horse battery\n";
  auto clients = Clients({{{"clientId", "reporter"}, {"clientSecret", "correct horse battery"}}});
  ServerProcess server(source(), {"--auth", clients.string()});
  ASSERT_TRUE(server.ok());
  auto basic = Export(server, {"--client-id", "reporter", "--client-secret-file", (dir_ / "secret").string(),
                               "--type", "Patient"});
  ASSERT_EQ(basic.exit_code, 0) << basic.err;
  fs::remove_all(out());
  auto post = Export(server, {"--type", "Patient", "--client-auth-method", "post"},
                     {"FHIRLAKE_CLIENT_ID=reporter", "FHIRLAKE_CLIENT_SECRET=correct horse battery"});
  ASSERT_EQ(post.exit_code, 0) << post.err;
  fs::remove_all(out());
  auto wrong = Export(server, {"--type", "Patient"}, {"FHIRLAKE_CLIENT_ID=reporter", "FHIRLAKE_CLIENT_SECRET=guess"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("refused client 'reporter'"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("guess"), std::string::npos);
}

TEST_F(AuthExportTest, TokenIsRenewedDuringAnExportLongerThanItsLifetime) {
  auto keys = Keygen("keys", "ES384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  // 2 s tokens; the server keeps the job pending for 4 polls 1 s apart.
  ServerProcess server(source(), {"--auth", clients.string(), "--token-lifetime", "2", "--faults", "status:pending=4"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  EXPECT_GE(TokenRequests(server), 2u);
  for (const auto& req : server.Requests()) EXPECT_NE(req["status"], 401) << "renewal must come before expiry: " << req;
}

// The token endpoint processed a request (and so spent its assertion's jti) but its answer
// failed: the retry carries a new assertion, which the server accepts; the same one again would
// be refused as a replay.
TEST_F(AuthExportTest, ARetriedTokenRequestSignsANewAssertion) {
  auto keys = Keygen("keys", "RS384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  ServerProcess server(source(), {"--auth", clients.string(), "--faults", "token:503=0"});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  auto r = Export(server, {"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  auto tokens = RequestsTo(server, "/auth/token");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0]["status"], 503);
  EXPECT_EQ(tokens[1]["status"], 200);
}

TEST_F(AuthExportTest, A401GetsANewTokenAndOneMoreTry) {
  auto keys = Keygen("keys", "RS384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  ServerProcess server(source(), {"--auth", clients.string(), "--faults", "file:401,status:401"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  EXPECT_EQ(TokenRequests(server), 3u) << "the first token, then one new token per 401";
}

// The new token a 401 brought serves the retries after it: a 503 next does not ask again.
TEST_F(AuthExportTest, ARetryAfterA401KeepsTheRenewedToken) {
  auto keys = Keygen("keys", "RS384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  ServerProcess server(source(), {"--auth", clients.string(), "--faults", "status:401,status:503=0,file:401,file:503=0"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string(), "--parallel", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOutputEqualsSource();
  EXPECT_EQ(TokenRequests(server), 3u) << "the first token, then one per 401";
}

TEST_F(AuthExportTest, DiscoveryFallsBackToTheCapabilityStatement) {
  auto keys = Keygen("keys", "ES384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  ServerProcess server(source(), {"--auth", clients.string(), "--no-well-known"});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string(), "--type", "Patient"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto well_known = RequestsTo(server, "/.well-known/smart-configuration");
  ASSERT_EQ(well_known.size(), 1u);
  EXPECT_EQ(well_known[0]["status"], 404);
  EXPECT_EQ(TokenRequests(server), 1u);
}

TEST_F(AuthExportTest, WellKnownDiscoveryAndAnExplicitTokenUrl) {
  auto keys = Keygen("keys", "RS384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  ServerProcess server(source(), {"--auth", clients.string()});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string(), "--type", "Patient"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RequestsTo(server, "/.well-known/smart-configuration").at(0)["status"], 200);
  fs::remove_all(out());
  size_t before = RequestsTo(server, "/.well-known/").size();
  auto explicit_url = Export(server, {"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string(),
                                      "--type", "Patient", "--token-url", server.base_url() + "/auth/token"});
  ASSERT_EQ(explicit_url.exit_code, 0) << explicit_url.err;
  EXPECT_EQ(RequestsTo(server, "/.well-known/").size(), before);
}

TEST_F(AuthExportTest, RejectionsAreClear) {
  auto registered = Keygen("registered", "ES384");
  auto other = Keygen("other", "ES384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (registered / "public.jwks.json").string()}},
                          {{"clientId", "narrow"}, {"clientSecret", "pw"}, {"scopes", {"system/Patient.read"}}}});
  ServerProcess server(source(), {"--auth", clients.string()});
  ASSERT_TRUE(server.ok());
  auto wrong_key = Export(server, {"--client-id", "etl", "--private-key", (other / "private.jwks.json").string()});
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_NE(wrong_key.err.find("no registered key has kid"), std::string::npos) << wrong_key.err;
  auto unknown = Export(server, {"--client-id", "nobody", "--private-key", (registered / "private.jwks.json").string()});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("not registered"), std::string::npos) << unknown.err;
  auto scope = Export(server, {"--type", "Observation", "--scope", "system/Patient.read"},
                      {"FHIRLAKE_CLIENT_ID=narrow", "FHIRLAKE_CLIENT_SECRET=pw"});
  EXPECT_EQ(scope.exit_code, 1);
  EXPECT_NE(scope.err.find("HTTP 403"), std::string::npos) << scope.err;
  EXPECT_NE(scope.err.find("do not allow reading Observation"), std::string::npos) << scope.err;
  auto anonymous = Export(server);
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find("HTTP 401"), std::string::npos) << anonymous.err;
  auto incomplete = Export(server, {"--client-id", "etl"});
  EXPECT_EQ(incomplete.exit_code, 2);
  EXPECT_NE(incomplete.err.find("--private-key or a client secret"), std::string::npos) << incomplete.err;
}

TEST_F(AuthExportTest, NarrowScopeExportsOnlyItsTypes) {
  auto clients = Clients({{{"clientId", "narrow"}, {"clientSecret", "pw"}, {"scopes", {"system/Patient.read"}}}});
  ServerProcess server(source(), {"--auth", clients.string()});
  ASSERT_TRUE(server.ok());
  auto r = Export(server, {"--scope", "system/Patient.read"}, {"FHIRLAKE_CLIENT_ID=narrow", "FHIRLAKE_CLIENT_SECRET=pw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = OutputLines();
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines["Patient"].size(), 30u);
}

TEST_F(AuthExportTest, AJobIsVisibleOnlyToItsClient) {
  auto clients = Clients({{{"clientId", "a"}, {"clientSecret", "pa"}}, {{"clientId", "b"}, {"clientSecret", "pb"}}});
  ServerProcess server(source(), {"--auth", clients.string(), "--faults", "status:pending=1000"});
  ASSERT_TRUE(server.ok());
  auto first = Export(server, {"--timeout", "0s"}, {"FHIRLAKE_CLIENT_ID=a", "FHIRLAKE_CLIENT_SECRET=pa"});
  ASSERT_EQ(first.exit_code, 1);
  std::string status_url = json::parse(ReadFile(out() / "export-state.json"))["statusUrl"];
  auto other = RunFhirlake({"export", "--resume", status_url, (dir_ / "b").string(), "--token-url",
                            server.base_url() + "/auth/token"},
                           {"FHIRLAKE_CLIENT_ID=b", "FHIRLAKE_CLIENT_SECRET=pb"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("no longer knows export"), std::string::npos) << other.err;
  auto cancel = RunFhirlake({"export", "--cancel", status_url, "--token-url", server.base_url() + "/auth/token"},
                            {"FHIRLAKE_CLIENT_ID=b", "FHIRLAKE_CLIENT_SECRET=pb"});
  EXPECT_EQ(cancel.exit_code, 1) << "another client cannot cancel the job";
}

// A client assertion names the token endpoint it was signed for (aud). Without --public-url the
// server knows its own URL only at a loopback address: an assertion signed for another server
// is refused even when the request's Host header names that server. And --auth on another
// address needs --public-url.
TEST_F(AuthExportTest, AnAssertionForAnotherServerIsRefusedWhateverTheHost) {
  auto keys = Keygen("keys", "ES384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  ServerProcess server(source(), {"--auth", clients.string()});
  ASSERT_TRUE(server.ok()) << server.stderr_text();
  auto key = auth::LoadPrivateKey((keys / "private.jwks.json").string());
  ASSERT_TRUE(key.ok()) << key.status().message();
  http::ClientOptions options;
  options.retry.max_attempts = 1;
  http::Client client(options);
  // POSTs a token request whose assertion is for `aud`, with `host` as the Host header ("" = the real one).
  auto token_request = [&](const std::string& aud, const std::string& host) {
    json claims = {{"iss", "etl"}, {"sub", "etl"}, {"aud", aud}, {"exp", std::time(nullptr) + 120},
                   {"jti", auth::Base64UrlEncode(auth::RandomBytes(12))}};
    auto jwt = auth::SignJwt(*key, claims.dump());
    EXPECT_TRUE(jwt.ok());
    http::Request r;
    r.method = "POST";
    r.url = server.base_url() + "/auth/token";
    r.headers.Add("Content-Type", "application/x-www-form-urlencoded");
    if (!host.empty()) r.headers.Add("Host", host);
    r.body = "grant_type=client_credentials&scope=system%2F*.read&client_assertion_type="
             "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" + *jwt;
    auto res = client.Send(r);
    EXPECT_TRUE(res.ok());
    return res.ok() ? *res : http::Response{};
  };
  auto own = token_request(server.base_url() + "/auth/token", "");
  EXPECT_EQ(own.status, 200) << own.body;
  auto as_localhost = token_request("http://localhost:" + std::to_string(server.port()) + "/fhir/auth/token",
                                    "localhost:" + std::to_string(server.port()));
  EXPECT_EQ(as_localhost.status, 200) << as_localhost.body;
  auto replayed = token_request("http://ehr.example/fhir/auth/token", "ehr.example");
  EXPECT_EQ(replayed.status, 401) << replayed.body;
  EXPECT_NE(replayed.body.find("aud must be this token endpoint"), std::string::npos) << replayed.body;
  auto other_port = token_request("http://127.0.0.1:1/fhir/auth/token", "127.0.0.1:1");
  EXPECT_EQ(other_port.status, 401) << other_port.body;

  auto open = RunFhirlake({"serve", "--source", source().string(), "--listen", "0.0.0.0:0", "--auth", clients.string()});
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_NE(open.err.find("--auth on 0.0.0.0 needs --public-url"), std::string::npos) << open.err;
}

// --resume and --cancel know only a status URL; discovery needs the FHIR base: the directory's
// export-state.json has its kick-off, or BASE_URL comes first; else a clear usage error.
TEST_F(AuthExportTest, ResumeAndCancelFindTheTokenEndpoint) {
  auto keys = Keygen("keys", "ES384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}}});
  ServerProcess server(source(), {"--auth", clients.string(), "--retry-after", "0", "--faults", "status:pending=3"});
  ASSERT_TRUE(server.ok());
  const std::vector<std::string> key{"--client-id", "etl", "--private-key", (keys / "private.jwks.json").string()};
  auto with_key = [&](std::vector<std::string> argv) {
    argv.insert(argv.end(), key.begin(), key.end());
    return RunFhirlake(argv);
  };
  auto first = Export(server, {"--timeout", "0s", "--client-id", "etl", "--private-key", key[3]});
  ASSERT_EQ(first.exit_code, 1) << first.err;
  std::string status_url = json::parse(ReadFile(out() / "export-state.json"))["statusUrl"];

  auto unknown = with_key({"export", "--resume", status_url, (dir_ / "elsewhere").string()});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("cannot find the token endpoint: give --token-url"), std::string::npos) << unknown.err;
  auto resumed = with_key({"export", "--resume", status_url, out().string(), "--poll-interval", "100ms"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  ExpectOutputEqualsSource();
  EXPECT_EQ(RequestsTo(server, "/$export").size(), 1u);

  RunFhirlake({"export", server.base_url(), (dir_ / "second").string(), "--timeout", "0s", key[0], key[1], key[2], key[3]});
  std::string second_url = json::parse(ReadFile(dir_ / "second" / "export-state.json"))["statusUrl"];
  auto bare_cancel = with_key({"export", "--cancel", second_url});
  EXPECT_EQ(bare_cancel.exit_code, 2);
  EXPECT_NE(bare_cancel.err.find("export BASE_URL --cancel STATUS_URL"), std::string::npos) << bare_cancel.err;
  auto cancel = with_key({"export", server.base_url(), "--cancel", second_url});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  bool deleted = false;
  for (const auto& d : RequestsTo(server, "/bulkstatus/")) deleted = deleted || (d["method"] == "DELETE" && d["status"] == 202);
  EXPECT_TRUE(deleted);
}

TEST_F(AuthExportTest, NoSecretReachesAnyOutputEvenWithDebugLogging) {
  auto keys = Keygen("keys", "RS384");
  auto clients = Clients({{{"clientId", "etl"}, {"jwksFile", (keys / "public.jwks.json").string()}},
                          {{"clientId", "reporter"}, {"clientSecret", "pw-7d1e0c5a"}}});
  ServerProcess server(source(), {"--auth", clients.string(), "--faults", "file:401,file:reset=0.5"});
  ASSERT_TRUE(server.ok());
  auto key_run = Export(server, {"-v", "--client-id", "etl", "--private-key", (keys / "private.jwks.json").string()});
  ASSERT_EQ(key_run.exit_code, 0) << key_run.err;
  EXPECT_NE(key_run.err.find("debug: GET"), std::string::npos) << "debug output is on";
  auto secret_run = RunFhirlake({"export", server.base_url(), (dir_ / "out2").string(), "-v", "--type", "Patient"},
                                {"FHIRLAKE_CLIENT_ID=reporter", "FHIRLAKE_CLIENT_SECRET=pw-7d1e0c5a"});
  ASSERT_EQ(secret_run.exit_code, 0) << secret_run.err;

  json private_jwk = json::parse(ReadFile(keys / "private.jwks.json"))["keys"][0];
  std::vector<std::string> secrets = {
      private_jwk["d"].get<std::string>().substr(0, 24), private_jwk["p"].get<std::string>().substr(0, 24),
      "pw-7d1e0c5a", "flat_",  // every access token starts with flat_
      "eyJ",                   // every JWT (client assertion) starts with eyJ
  };
  std::vector<std::pair<std::string, std::string>> outputs = {
      {"stderr (key)", key_run.err}, {"stdout (key)", key_run.out},
      {"stderr (secret)", secret_run.err}, {"stdout (secret)", secret_run.out},
      {"server stderr", server.stderr_text()}};
  for (const auto& dir : {out(), dir_ / "out2"}) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) outputs.emplace_back(e.path().string(), ReadFile(e.path()));
    }
  }
  for (const auto& req : server.Requests()) outputs.emplace_back("request log", req.dump());
  for (const auto& [where, text] : outputs) {
    for (const auto& secret : secrets) EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << where;
  }
}

}  // namespace
}  // namespace fhirlake::testing
