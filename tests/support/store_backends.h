// The stores a store test runs against: a local directory, or a prefix of the loopback S3 test
// server (tests/support/s3_server.h), as one parameterised fixture.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <string>

#include "fhirlake/store/names.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/store/s3_store.h"
#include "tests/support/s3_server.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::testing {

enum class Backend { kLocal, kS3 };

// store_ is a fresh local directory, or a fresh prefix (`prefix_stem` + random hex +
// `prefix_tail`) in the test server's bucket; one server per test suite.
class StoreBackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  explicit StoreBackendTest(std::string prefix_stem, std::string prefix_tail = "", size_t part_bytes = 0)
      : prefix_stem_(std::move(prefix_stem)), prefix_tail_(std::move(prefix_tail)), part_bytes_(part_bytes) {}

  static void SetUpTestSuite() { server_ = std::make_unique<S3Server>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (GetParam() == Backend::kLocal) {
      store_ = store::NewLocalStore(dir_.path().string());
      return;
    }
    ASSERT_TRUE(server_->ok());
    store::S3Config config = server_->config();
    if (part_bytes_) config.part_bytes = part_bytes_;
    store_ = store::NewS3Store(config, {S3Server::kBucket, prefix_stem_ + store::RandomHex(4) + prefix_tail_});
  }

  static inline std::unique_ptr<S3Server> server_;
  TempDir dir_;
  std::unique_ptr<store::ObjectStore> store_;

 private:
  std::string prefix_stem_, prefix_tail_;
  size_t part_bytes_;
};

// Names the instantiations "Local" and "S3".
inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kLocal ? "Local" : "S3";
}

}  // namespace fhirlake::testing
