// handoff configuration under pathling-import's names: defaults, required settings, the
// authentication switch, and the retry waits.
#include "fhirlake/handoff/config.h"

#include <gtest/gtest.h>

#include <map>

namespace fhirlake::handoff {
namespace {

SettingLookup From(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

const std::map<std::string, std::string> kMinimal = {{"SOURCE_ENDPOINT", "http://127.0.0.1:1/fhir/"},
                                                     {"STAGING_URL", "s3://bucket/staging/"},
                                                     {"TARGET_ENDPOINT", "http://127.0.0.1:2/fhir"}};

TEST(HandoffConfig, FileKeysAreThePathlingImportNamesInLowerCamelCase) {
  EXPECT_EQ(CamelCaseName("SOURCE_ENDPOINT"), "sourceEndpoint");
  EXPECT_EQ(CamelCaseName("TYPES"), "types");
  EXPECT_EQ(CamelCaseName("EXPORT_RETRY_BACK_OFF"), "exportRetryBackOff");
  EXPECT_EQ(CamelCaseName("SOURCE_AUTHENTICATION_ENABLED"), "sourceAuthenticationEnabled");
  EXPECT_TRUE(IsSecretSetting("SOURCE_CLIENT_SECRET"));
  EXPECT_TRUE(IsSecretSetting("TARGET_CLIENT_SECRET"));
  EXPECT_FALSE(IsSecretSetting("SOURCE_CLIENT_ID"));
}

TEST(HandoffConfig, DefaultsAreThoseOfPathlingImport) {
  auto c = ConfigFromSettings(From(kMinimal), Needs::kAll, {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->source.endpoint, "http://127.0.0.1:1/fhir");
  EXPECT_EQ(c->staging_url, "s3://bucket/staging");
  EXPECT_EQ(c->export_retry.times, 24);
  EXPECT_EQ(c->export_retry.wait_seconds, 900);
  EXPECT_EQ(c->import_retry.back_off, 1.0);
  EXPECT_EQ(c->import_mode, "merge");
  EXPECT_FALSE(c->source.http.tokens) << "no client id and no switch: no authentication";
  EXPECT_FALSE(c->target.http.tokens);
  EXPECT_TRUE(c->types.empty());
  EXPECT_FALSE(c->since);
}

TEST(HandoffConfig, ReadsTypesSinceAndRetries) {
  auto values = kMinimal;
  values["TYPES"] = "Patient, Observation,,Condition";
  values["SINCE"] = "2024-01-01T00:00:00Z";
  values["EXPORT_RETRY_TIMES"] = "3";
  values["EXPORT_RETRY_WAIT"] = "0.5";
  values["EXPORT_RETRY_BACK_OFF"] = "2";
  auto c = ConfigFromSettings(From(values), Needs::kAll, {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->types, (std::vector<std::string>{"Patient", "Observation", "Condition"}));
  EXPECT_EQ(c->since.value_or(""), "2024-01-01T00:00:00Z");
  EXPECT_EQ(c->export_retry.times, 3);
  EXPECT_EQ(RetryWait(c->export_retry, 1).count(), 500);
  EXPECT_EQ(RetryWait(c->export_retry, 3).count(), 2000);
  values["EXPORT_RETRY_TIMES"] = "many";
  auto bad = ConfigFromSettings(From(values), Needs::kAll, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("EXPORT_RETRY_TIMES"), std::string::npos);
}

TEST(HandoffConfig, EachStepNeedsOnlyItsOwnSettings) {
  auto import_only = ConfigFromSettings(From({{"TARGET_ENDPOINT", "http://127.0.0.1:2/fhir"}}), Needs::kImport, {});
  EXPECT_TRUE(import_only.ok()) << import_only.status().message();
  auto transfer = ConfigFromSettings(From({{"SOURCE_ENDPOINT", "http://127.0.0.1:1/fhir"}}), Needs::kTransfer, {});
  ASSERT_FALSE(transfer.ok());
  EXPECT_NE(transfer.status().message().find("STAGING_URL"), std::string::npos);
  EXPECT_NE(transfer.status().message().find("stagingUrl"), std::string::npos);
}

TEST(HandoffConfig, AuthenticationNeedsTheClientCredentialsAndNeverEchoesTheSecret) {
  auto values = kMinimal;
  values["SOURCE_AUTHENTICATION_ENABLED"] = "true";
  auto missing = ConfigFromSettings(From(values), Needs::kExport, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("SOURCE_CLIENT_ID"), std::string::npos);
  values["SOURCE_CLIENT_ID"] = "exporter";
  values["SOURCE_CLIENT_SECRET"] = "s3cr3t-value";
  values["TARGET_CLIENT_ID"] = "importer";
  values["TARGET_CLIENT_SECRET"] = "t4rget-value";
  auto c = ConfigFromSettings(From(values), Needs::kAll, {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->source.http.tokens);
  EXPECT_TRUE(c->target.http.tokens);
  EXPECT_EQ(c->target.http.token_origin, "http://127.0.0.1:2");
  values["SOURCE_AUTHENTICATION_ENABLED"] = "false";
  auto off = ConfigFromSettings(From(values), Needs::kExport, {});
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->source.http.tokens) << "the switch off wins over a client id";
  values["SOURCE_AUTHENTICATION_ENABLED"] = "yes";
  auto bad = ConfigFromSettings(From(values), Needs::kExport, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("s3cr3t-value"), std::string::npos);
}

TEST(HandoffConfig, OnlyTransientTransferFailuresAreRetried) {
  EXPECT_TRUE(IsTransient(NetworkError("reset")));
  EXPECT_TRUE(IsTransient(ServerError("503")));
  EXPECT_FALSE(IsTransient(Status(StatusCode::kUnauthenticated, "SignatureDoesNotMatch")));
  EXPECT_FALSE(IsTransient(InvalidArgument("bad manifest")));
}

}  // namespace
}  // namespace fhirlake::handoff
