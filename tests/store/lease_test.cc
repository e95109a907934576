// Leases on both stores: one holder at a time, release, a crashed holder's lease expiring.
#include "fhirlake/store/lease.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <utility>
#include <thread>

#include "fhirlake/store/names.h"
#include "fhirlake/store/s3_store.h"
#include "tests/support/process.h"
#include "tests/support/store_backends.h"

namespace fhirlake::store {
namespace {

using fhirlake::testing::Backend;
using fhirlake::testing::StoreBackendTest;
using fhirlake::testing::WaitFor;
using namespace std::chrono_literals;

class LeaseTest : public StoreBackendTest {
 protected:
  LeaseTest() : StoreBackendTest("lease-") {}
  LeaseOptions Options(std::string owner, std::chrono::milliseconds ttl = 60s) {
    return LeaseOptions{ttl, std::move(owner)};
  }
};

TEST_P(LeaseTest, SecondHolderIsRefusedWithTheOwnersName) {
  auto first = Lease::Acquire(*store_, "locks/sync", Options("sync pid 1 on host-a"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = Lease::Acquire(*store_, "locks/sync", Options("sync pid 2"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kConflict);
  EXPECT_NE(second.status().message().find("sync pid 1 on host-a"), std::string::npos) << second.status().message();
}

TEST_P(LeaseTest, ReleasedLeaseIsTakenAtOnce) {
  auto first = Lease::Acquire(*store_, "locks/sync", Options("a"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Release().ok());
  auto second = Lease::Acquire(*store_, "locks/sync", Options("b"));
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(ListAll(*store_, "locks/sync/")->size(), 1u) << "older generations are removed";
  second->reset();  // the destructor releases
  EXPECT_TRUE(Lease::Acquire(*store_, "locks/sync", Options("c")).ok());
}

TEST_P(LeaseTest, CrashedHoldersLeaseExpiresAndIsTakenOver) {
  // The holder is a child process that takes the lease and dies without releasing it.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto held = Lease::Acquire(*store_, "locks/sync", LeaseOptions{1500ms, "crashed holder"});
    std::_Exit(held.ok() ? 0 : 1);  // no destructors: nothing releases the lease
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  auto refused = Lease::Acquire(*store_, "locks/sync", Options("next"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("crashed holder"), std::string::npos);
  std::unique_ptr<Lease> taken;
  EXPECT_TRUE(WaitFor([&] {
    auto attempt = Lease::Acquire(*store_, "locks/sync", Options("next"));
    if (attempt.ok()) taken = std::move(attempt.value());
    return taken != nullptr;
  }, 15s)) << "the expired lease must be taken over";
}

TEST_P(LeaseTest, RenewAfterATakeoverIsAConflict) {
  auto first = Lease::Acquire(*store_, "locks/sync", Options("slow", 300ms));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Renew().ok());
  std::unique_ptr<Lease> second;
  ASSERT_TRUE(WaitFor([&] {
    auto attempt = Lease::Acquire(*store_, "locks/sync", Options("fast"));
    if (attempt.ok()) second = std::move(attempt.value());
    return second != nullptr;
  }, 15s));
  Status renewed = (*first)->Renew();
  EXPECT_EQ(renewed.code(), StatusCode::kConflict) << renewed.message();
  EXPECT_TRUE((*first)->Release().ok());
  first->reset();
  EXPECT_TRUE(Lease::Acquire(*store_, "locks/sync", Options("third")).status().code() == StatusCode::kConflict)
      << "the slow holder's release must not free the new holder's lease";
}

TEST_P(LeaseTest, RacingAcquirersHaveOneWinner) {
  std::atomic<int> wins{0}, conflicts{0};
  std::vector<std::unique_ptr<Lease>> held(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto lease = Lease::Acquire(*store_, "locks/race", Options("racer " + std::to_string(i)));
      if (lease.ok()) {
        ++wins;
        held[i] = std::move(lease.value());
      } else if (lease.status().code() == StatusCode::kConflict) {
        ++conflicts;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(conflicts.load(), 5);
}

// A lease document that does not parse was read half-written: the lease is held, until it has
// looked that way for a whole lease time.
TEST_P(LeaseTest, AnUnreadableLeaseIsHeldForALeaseTime) {
  ASSERT_TRUE(store_->Put("locks/torn/00000000000000000001", R"({"owner":"wri)").ok());
  auto refused = Lease::Acquire(*store_, "locks/torn", Options("next"));
  EXPECT_EQ(refused.status().code(), StatusCode::kConflict) << refused.status().message();
  std::unique_ptr<Lease> taken;
  EXPECT_TRUE(WaitFor([&] {
    auto attempt = Lease::Acquire(*store_, "locks/torn", Options("patient", 1500ms));
    if (attempt.ok()) taken = std::move(attempt.value());
    return taken != nullptr;
  }, 15s)) << "a document unreadable for longer than the lease time is no lease";
}

// Forwards to another store; `on_get` runs once, before the next Get: a slow reader.
class PausingStore : public ObjectStore {
 public:
  explicit PausingStore(ObjectStore& s) : s_(s) {}
  std::function<void()> on_get;
  std::string Describe() const override { return s_.Describe(); }
  Result<std::string> Get(std::string_view k, size_t m) override {
    if (auto f = std::exchange(on_get, nullptr)) f();
    return s_.Get(k, m);
  }
  Result<std::string> GetRange(std::string_view k, uint64_t o, size_t l) override { return s_.GetRange(k, o, l); }
  Result<uint64_t> Size(std::string_view k) override { return s_.Size(k); }
  Status Put(std::string_view k, std::string_view c) override { return s_.Put(k, c); }
  Status PutIfAbsent(std::string_view k, std::string_view c) override { return s_.PutIfAbsent(k, c); }
  Result<ListPage> List(std::string_view p, std::string_view t, int m, std::string_view a) override {
    return s_.List(p, t, m, a);
  }
  Result<ListPage> ListShallow(std::string_view p, std::string_view t, int m) override { return s_.ListShallow(p, t, m); }
  Status Delete(std::string_view k) override { return s_.Delete(k); }
  Result<std::unique_ptr<ObjectWriter>> NewWriter(std::string_view k) override { return s_.NewWriter(k); }

 private:
  ObjectStore& s_;
};

// C lists (generation 1, released) and is slow to read it; meanwhile B takes and releases 2,
// and D takes 3, deleting 1 and 2. C's read of 1 finds nothing, and writing 2 would succeed:
// two holders. C must see that a newer holder came.
TEST_P(LeaseTest, ASlowAcquirerDoesNotTakeALeaseTakenWhileItRead) {
  ASSERT_TRUE((*Lease::Acquire(*store_, "locks/state", Options("A")))->Release().ok());
  std::unique_ptr<Lease> d;
  PausingStore slow(*store_);
  slow.on_get = [&] {
    auto b = Lease::Acquire(*store_, "locks/state", Options("B"));
    ASSERT_TRUE(b.ok()) << b.status().message();
    ASSERT_TRUE((*b)->Release().ok());
    auto taken = Lease::Acquire(*store_, "locks/state", Options("D"));
    ASSERT_TRUE(taken.ok()) << taken.status().message();
    d = std::move(taken.value());
  };
  auto c = Lease::Acquire(slow, "locks/state", Options("C"));
  ASSERT_NE(d, nullptr);
  ASSERT_FALSE(c.ok()) << "C holds " << (*c)->key() << " while D holds " << d->key();
  EXPECT_EQ(c.status().code(), StatusCode::kConflict);
  EXPECT_TRUE(d->Renew().ok());
  auto e = Lease::Acquire(*store_, "locks/state", Options("E"));
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("held by D"), std::string::npos) << e.status().message();
}

INSTANTIATE_TEST_SUITE_P(Backends, LeaseTest, ::testing::Values(Backend::kLocal, Backend::kS3),
                         fhirlake::testing::BackendName);

}  // namespace
}  // namespace fhirlake::store
