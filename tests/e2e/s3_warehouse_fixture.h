// The sync and import tests' fixture over an S3 warehouse: the s3rver test server, the
// warehouse URL in its bucket, and the AWS SDK for JavaScript as the independent reader.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/sync_fixture.h"
#include "tests/support/s3_server.h"

namespace fhirlake::testing {

class S3WarehouseTest : public SyncTest {
 protected:
  void SetUp() override {
    SyncTest::SetUp();
    ASSERT_TRUE(s3_.ok()) << s3_.stderr_text();
  }

  std::string WarehouseUrl() const { return std::string("s3://") + S3Server::kBucket + "/wh"; }

  // The server's AWS variables, with `changes` (NAME=value) replacing or adding to them.
  std::vector<std::string> Env(std::vector<std::string> changes = {}) const {
    auto env = s3_.env();
    for (const auto& c : changes) {
      const std::string name = c.substr(0, c.find('=') + 1);
      auto it = std::find_if(env.begin(), env.end(), [&](const std::string& e) { return e.starts_with(name); });
      if (it != env.end()) {
        *it = c;
      } else {
        env.push_back(c);
      }
    }
    return env;
  }

  // Downloads the whole warehouse with the AWS SDK into wh(), where the fixture's readers look.
  void Download() {
    fs::remove_all(wh());
    ASSERT_EQ(s3_.Sdk({"sync", S3Server::kBucket, "wh/", wh().string()}), 0);
  }

  // Keys under `prefix` of the warehouse, as the AWS SDK lists them.
  std::vector<std::string> Keys(const std::string& prefix) {
    std::string out;
    EXPECT_EQ(s3_.Sdk({"list", S3Server::kBucket, "wh/" + prefix}, &out), 0);
    std::vector<std::string> keys;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) keys.push_back(json::parse(line)["key"].get<std::string>().substr(3));
    }
    return keys;
  }
  std::vector<std::string> Commits(const std::string& type) {
    std::vector<std::string> commits;
    for (const auto& k : Keys(type + "/_delta_log/")) {
      if (k.ends_with(".json")) commits.push_back(k);
    }
    return commits;
  }

  S3Server s3_;
};

}  // namespace fhirlake::testing
