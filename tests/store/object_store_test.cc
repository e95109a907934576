// The ObjectStore contract, run against the local directory and against S3 (the loopback test
// server), plus what only S3 has: credentials, retries, aborted uploads.
#include "fhirlake/store/object_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "fhirlake/store/names.h"
#include "fhirlake/store/s3_store.h"
#include "fhirlake/store/warehouse_layout.h"
#include "tests/support/s3_server.h"
#include "tests/support/scoped_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::store {
namespace {

using fhirlake::testing::S3Server;
using fhirlake::testing::Backend;
using fhirlake::testing::ScopedEnv;
using fhirlake::testing::StoreBackendTest;
using fhirlake::testing::TempDir;

// Each test its own prefix in the shared bucket; parts of 5 MiB (S3's minimum) so the
// multipart tests stay small.
class ObjectStoreContract : public StoreBackendTest {
 protected:
  ObjectStoreContract() : StoreBackendTest("t-", "/root", 5u << 20) {}
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  return s;
}

TEST_P(ObjectStoreContract, PutThenGetReturnsTheBytes) {
  ASSERT_TRUE(store_->Put("a/b/doc.json", "{\"x\":1}").ok());
  ASSERT_TRUE(store_->Put("a/b/doc.json", "{\"x\":2}").ok());
  auto got = store_->Get("a/b/doc.json");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "{\"x\":2}");
  EXPECT_EQ(*store_->Size("a/b/doc.json"), 7u);
  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(*store_->Get("empty"), "");
}

TEST_P(ObjectStoreContract, MissingObjectIsNotFound) {
  EXPECT_EQ(store_->Get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRange("nope", 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Size("nope").status().code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreContract, PutIfAbsentRefusesAnExistingObject) {
  ASSERT_TRUE(store_->PutIfAbsent("_delta_log/0.json", "first").ok());
  Status second = store_->PutIfAbsent("_delta_log/0.json", "second");
  EXPECT_EQ(second.code(), StatusCode::kConflict) << second.message();
  EXPECT_EQ(*store_->Get("_delta_log/0.json"), "first");
}

TEST_P(ObjectStoreContract, PutIfAbsentRaceHasExactlyOneWinner) {
  constexpr int kWriters = 8;
  std::atomic<int> wins{0}, conflicts{0}, others{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      Status s = store_->PutIfAbsent("race/commit.json", "writer " + std::to_string(i));
      if (s.ok()) ++wins;
      else if (s.code() == StatusCode::kConflict) ++conflicts;
      else ++others;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(conflicts.load(), kWriters - 1);
  EXPECT_EQ(others.load(), 0);
  auto listed = ListAll(*store_, "race/");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u) << "no temporary object may remain";
}

TEST_P(ObjectStoreContract, ListPaginatesInKeyOrderUnderAPrefix) {
  for (int i = 0; i < 25; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "tbl/part-%03d", i);
    ASSERT_TRUE(store_->Put(key, std::string(static_cast<size_t>(i), 'x')).ok());
  }
  ASSERT_TRUE(store_->Put("tbl2/other", "x").ok());
  std::vector<ObjectInfo> all;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->List("tbl/", token, 10);
    ASSERT_TRUE(page.ok()) << page.status().message();
    ++pages;
    EXPECT_LE(page->objects.size(), 10u);
    all.insert(all.end(), page->objects.begin(), page->objects.end());
    token = page->next_token;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 25u);
  EXPECT_EQ(all.front().key, "tbl/part-000");
  EXPECT_EQ(all[7].size, 7u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(), [](auto& a, auto& b) { return a.key < b.key; }));
  EXPECT_EQ(ListAll(*store_, "tbl")->size(), 26u) << "a prefix is a string prefix";
}

// How a table's log is opened from its checkpoint: every page is asked with the same start key
// (as ListAll does), and the pages after the first continue from their token, not from the key.
TEST_P(ObjectStoreContract, ListFromAStartKeyPaginatesPastIt) {
  for (int i = 0; i < 25; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "log/%03d.json", i);
    ASSERT_TRUE(store_->Put(key, "x").ok());
  }
  std::vector<std::string> keys;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->List("log/", token, 4, "log/010");
    ASSERT_TRUE(page.ok()) << page.status().message();
    ++pages;
    for (const auto& object : page->objects) keys.push_back(object.key);
    token = page->next_token;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 4);
  ASSERT_EQ(keys.size(), 15u);  // 010.json .. 024.json: "log/010" sorts before "log/010.json"
  EXPECT_EQ(keys.front(), "log/010.json");
  EXPECT_EQ(keys.back(), "log/024.json");
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end()) << "no key twice";
  auto all = ListAll(*store_, "log/", "log/020.json");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ(all->front().key, "log/021.json");
}

// A shallow listing stops at the next '/': how the tables of a warehouse are found without
// listing every file in them.
TEST_P(ObjectStoreContract, ShallowListingGivesEachDirectoryOnce) {
  for (const char* key : {"Patient/_delta_log/0.json", "Patient/part-1.parquet", "Patient/part-2.parquet",
                          "Pa/x", "Observation/_delta_log/0.json", "_fhirlake/state.json", "top.txt"}) {
    ASSERT_TRUE(store_->Put(key, "x").ok()) << key;
  }
  auto root = store_->ListShallow("");
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(root->prefixes, (std::vector<std::string>{"Observation/", "Pa/", "Patient/", "_fhirlake/"}));
  ASSERT_EQ(root->objects.size(), 1u);
  EXPECT_EQ(root->objects[0].key, "top.txt");
  EXPECT_EQ(root->objects[0].size, 1u);

  auto patient = store_->ListShallow("Patient/");
  ASSERT_TRUE(patient.ok());
  EXPECT_EQ(patient->prefixes, (std::vector<std::string>{"Patient/_delta_log/"}));
  ASSERT_EQ(patient->objects.size(), 2u);
  EXPECT_EQ(patient->objects[1].key, "Patient/part-2.parquet");

  // A name prefix within a level, and pagination that counts directories and objects alike.
  auto pa = store_->ListShallow("Pa");
  ASSERT_TRUE(pa.ok());
  EXPECT_EQ(pa->prefixes, (std::vector<std::string>{"Pa/", "Patient/"}));
  auto first = store_->ListShallow("", {}, 2);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->prefixes, (std::vector<std::string>{"Observation/", "Pa/"}));
  ASSERT_FALSE(first->next_token.empty());
  auto rest = store_->ListShallow("", first->next_token, 10);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->prefixes, (std::vector<std::string>{"Patient/", "_fhirlake/"}));
  EXPECT_EQ(rest->objects.size(), 1u);
  EXPECT_EQ(*ListDirectories(*store_, ""), (std::vector<std::string>{"Observation", "Pa", "Patient", "_fhirlake"}));
  EXPECT_EQ(*ListWarehouseTables(*store_), (std::vector<std::string>{"Observation", "Patient"}));
}

// Vacuum ages the files no commit references by this time, so it must be the write's.
TEST_P(ObjectStoreContract, ListingsCarryWhenEachObjectWasWritten) {
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  const int64_t before = now_ms();
  ASSERT_TRUE(store_->Put("aged/a", "x").ok());
  auto writer = store_->NewWriter("aged/b");
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  ASSERT_TRUE((*writer)->Append("yy").ok());
  ASSERT_TRUE((*writer)->Close().ok());
  const int64_t after = now_ms();
  auto listed = ListAll(*store_, "aged/");
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  ASSERT_EQ(listed->size(), 2u);
  for (const ObjectInfo& o : *listed) {
    // S3's LastModified has whole seconds on some servers: allow the second it falls in.
    EXPECT_GE(o.modified_ms, before - 1000) << o.key;
    EXPECT_LE(o.modified_ms, after + 1000) << o.key;
  }
}

TEST_P(ObjectStoreContract, RangedReadsReturnTheBytesAsked) {
  std::string data = Pattern(100'000);
  ASSERT_TRUE(store_->Put("data.bin", data).ok());
  EXPECT_EQ(*store_->GetRange("data.bin", 1000, 500), data.substr(1000, 500));
  EXPECT_EQ(*store_->GetRange("data.bin", 99'990, 100), data.substr(99'990)) << "short at the end";
  EXPECT_EQ(*store_->GetRange("data.bin", 100'000, 10), "") << "empty past the end";
}

TEST_P(ObjectStoreContract, StreamingWriterPublishesALargeObjectOnlyOnClose) {
  const std::string data = Pattern((11u << 20) + 12345);  // three parts of 5 MiB on S3
  auto writer = store_->NewWriter("Patient.000.ndjson");
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  for (size_t off = 0; off < data.size(); off += 1u << 20) {
    ASSERT_TRUE((*writer)->Append(std::string_view(data).substr(off, 1u << 20)).ok());
  }
  EXPECT_EQ(store_->Size("Patient.000.ndjson").status().code(), StatusCode::kNotFound) << "visible before Close";
  Status closed = (*writer)->Close();
  ASSERT_TRUE(closed.ok()) << closed.message();
  EXPECT_EQ(*store_->Size("Patient.000.ndjson"), data.size());
  EXPECT_EQ(*store_->GetRange("Patient.000.ndjson", (5u << 20) - 10, 20), data.substr((5u << 20) - 10, 20));
  EXPECT_EQ(*store_->Get("Patient.000.ndjson"), data);
}

TEST_P(ObjectStoreContract, WriterDroppedBeforeCloseLeavesNothing) {
  {
    auto writer = store_->NewWriter("partial.ndjson");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(Pattern(6u << 20)).ok());
  }
  EXPECT_EQ(ListAll(*store_, "")->size(), 0u);
}

TEST_P(ObjectStoreContract, DeleteRemovesAndToleratesAbsentObjects) {
  ASSERT_TRUE(store_->Put("x/y", "1").ok());
  ASSERT_TRUE(store_->Delete("x/y").ok());
  EXPECT_EQ(store_->Get("x/y").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete("x/y").ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreContract, ::testing::Values(Backend::kLocal, Backend::kS3),
                         fhirlake::testing::BackendName);

TEST(S3Store, BadAccessKeyGivesAMessageNamingTheBucketAndTheVariable) {
  S3Server server;
  ASSERT_TRUE(server.ok());
  S3Config config = server.config();
  config.access_key_id = "NOTAKEY";
  auto store = NewS3Store(config, {S3Server::kBucket, "w"});
  Status s = store->Put("x", "1");
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("bucket fhirlake-test"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("InvalidAccessKeyId"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("AWS_ACCESS_KEY_ID"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('<'), std::string::npos) << "no XML in messages: " << s.message();
}

TEST(S3Store, WrongSecretIsRefusedWithoutShowingIt) {
  S3Server server;
  ASSERT_TRUE(server.ok());
  S3Config config = server.config();
  config.secret_access_key = "wrong-secret-value";
  auto store = NewS3Store(config, {S3Server::kBucket, ""});
  auto got = store->List("");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(got.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << got.status().message();
  EXPECT_EQ(got.status().message().find("wrong-secret-value"), std::string::npos);
}

TEST(S3Store, MissingBucketSaysSo) {
  S3Server server;
  ASSERT_TRUE(server.ok());
  auto store = NewS3Store(server.config(), {"no-such-bucket", ""});
  Status s = store->Put("x", "1");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("bucket no-such-bucket does not exist"), std::string::npos) << s.message();
}

TEST(S3Store, RetriesSlowDown) {
  S3Server server({"--slowdown", "2"});
  ASSERT_TRUE(server.ok());
  auto store = NewS3Store(server.config(), {S3Server::kBucket, ""});
  Status s = store->Put("k", "v");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(server.Requests().size(), 3u);
}

// S3 stored the object, the answer was lost: the HTTP client sends the write again, S3 refuses
// it (412, the object exists), and the store recognises the object as its own by the bytes.
TEST(S3Store, AConditionalWriteWhoseAnswerWasLostSucceeds) {
  S3Server server({"--drop-response", "^PUT /fhirlake-test/log/0\\.json$"});
  ASSERT_TRUE(server.ok());
  S3Config config = server.config();
  config.max_attempts = 3;
  auto store = NewS3Store(config, {S3Server::kBucket, ""});
  Status s = store->PutIfAbsent("log/0.json", "ours");
  ASSERT_TRUE(s.ok()) << s.message();
  int puts = 0;
  for (const auto& [method, url] : server.Requests()) puts += method == "PUT" && url.ends_with("/log/0.json");
  EXPECT_EQ(puts, 2) << "the first answer was dropped, so the write was sent again";
  EXPECT_EQ(*store->Get("log/0.json"), "ours");
  EXPECT_EQ(store->PutIfAbsent("log/0.json", "theirs").code(), StatusCode::kConflict) << "other bytes lose the race";
}

// S3 may answer CompleteMultipartUpload 200 with an InternalError in the body; AWS asks for a
// retry, which completes the upload.
TEST(S3Store, ACompletionAnsweredWithAnErrorIsRetried) {
  S3Server server({"--complete-error", "1"});
  ASSERT_TRUE(server.ok());
  S3Config config = server.config();
  config.part_bytes = 5u << 20;
  auto store = NewS3Store(config, {S3Server::kBucket, ""});
  auto writer = store->NewWriter("big.ndjson");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(std::string((5u << 20) + 100, 'x')).ok());
  Status closed = (*writer)->Close();
  ASSERT_TRUE(closed.ok()) << closed.message();
  int completions = 0;
  for (const auto& [method, url] : server.Requests()) completions += method == "POST" && url.find("uploadId=") != std::string::npos;
  EXPECT_EQ(completions, 2);
  auto size = store->Size("big.ndjson");
  ASSERT_TRUE(size.ok()) << size.status().message();
  EXPECT_EQ(*size, (5u << 20) + 100);
}

TEST(S3Store, FailedMultipartUploadIsAborted) {
  S3Server server({"--fail-part", "2"});
  ASSERT_TRUE(server.ok());
  S3Config config = server.config();
  config.part_bytes = 5u << 20;
  config.max_attempts = 2;
  auto store = NewS3Store(config, {S3Server::kBucket, ""});
  auto writer = store->NewWriter("big.ndjson");
  ASSERT_TRUE(writer.ok());
  Status s = (*writer)->Append(Pattern(5u << 20));
  ASSERT_TRUE(s.ok()) << s.message();
  s = (*writer)->Append(Pattern(5u << 20));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("s3://fhirlake-test/big.ndjson"), std::string::npos) << s.message();
  bool aborted = false;
  for (const auto& [method, url] : server.Requests()) {
    if (method == "DELETE" && url.find("uploadId=") != std::string::npos) aborted = true;
  }
  EXPECT_TRUE(aborted) << "the upload must be aborted";
  EXPECT_EQ(store->Size("big.ndjson").status().code(), StatusCode::kNotFound);
}

TEST(S3Store, WhatFhirlakeWritesTheAwsSdkReads) {
  S3Server server;
  ASSERT_TRUE(server.ok());
  auto store = NewS3Store(server.config(), {S3Server::kBucket, "sdk"});
  const std::string data = Pattern((6u << 20) + 5);
  auto writer = store->NewWriter("dir/a b+c.ndjson");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(data).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  TempDir dir;
  std::string listing;
  ASSERT_EQ(server.Sdk({"list", S3Server::kBucket, "sdk/"}, &listing), 0);
  EXPECT_NE(listing.find("\"key\":\"sdk/dir/a b+c.ndjson\""), std::string::npos) << listing;
  ASSERT_EQ(server.Sdk({"get", S3Server::kBucket, "sdk/dir/a b+c.ndjson", (dir / "out").string()}), 0);
  EXPECT_EQ(fhirlake::testing::ReadFile(dir / "out"), data);
}

TEST(S3Config, ReadsTheProfileFromTheSharedFiles) {
  TempDir dir;
  std::ofstream(dir / "credentials") << "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n"
                                     << "[etl]\naws_access_key_id = AKETL\naws_secret_access_key = SECRETETL\n"
                                     << "aws_session_token = TOK\n";
  std::ofstream(dir / "config") << "[profile etl]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:9000\n";
  ScopedEnv env({"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_REGION=",
                 "AWS_DEFAULT_REGION=", "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_S3=", "AWS_PROFILE=etl",
                 "AWS_SHARED_CREDENTIALS_FILE=" + (dir / "credentials").string(),
                 "AWS_CONFIG_FILE=" + (dir / "config").string(), "FHIRLAKE_S3_ADDRESSING="});
  auto config = S3Config::FromEnvironment();
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->access_key_id, "AKETL");
  EXPECT_EQ(config->secret_access_key, "SECRETETL");
  EXPECT_EQ(config->session_token, "TOK");
  EXPECT_EQ(config->region, "eu-west-1");
  EXPECT_EQ(config->endpoint, "http://127.0.0.1:9000");
  EXPECT_TRUE(config->path_style);
}

TEST(S3Config, VariablesWinAndAwsIsVirtualHosted) {
  ScopedEnv env({"AWS_ACCESS_KEY_ID=AK", "AWS_SECRET_ACCESS_KEY=SK", "AWS_REGION=eu-central-1", "AWS_ENDPOINT_URL=",
                 "AWS_ENDPOINT_URL_S3=", "AWS_PROFILE=", "AWS_CONFIG_FILE=/nonexistent", "FHIRLAKE_S3_ADDRESSING="});
  auto config = S3Config::FromEnvironment();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->access_key_id, "AK");
  EXPECT_EQ(config->endpoint, "https://s3.eu-central-1.amazonaws.com");
  EXPECT_FALSE(config->path_style);
}

TEST(S3Config, NoCredentialsIsAClearError) {
  ScopedEnv env({"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=missing",
                 "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent"});
  auto config = S3Config::FromEnvironment();
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

}  // namespace
}  // namespace fhirlake::store
