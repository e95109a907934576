#include "fhirlake/server/export_jobs.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fhirlake/fhir/date_time.h"

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::server {
namespace {

using fhirlake::testing::ReadFile;
using fhirlake::testing::TempDir;
using fhirlake::testing::WaitFor;
namespace fs = std::filesystem;

// A small hand-made source whose expected selections are easy to state.
class ExportJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write("Patient.a.ndjson",
          R"({"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2024-01-01T00:00:00Z"},"gender":"female"})" "\n"
          R"({"resourceType":"Patient","id":"p2","meta":{"lastUpdated":"2024-03-01T00:00:00Z"},"gender":"male"})" "\n"
          R"({"resourceType":"Patient","id":"p3","meta":{"lastUpdated":"2024-05-01T00:00:00Z"},"gender":"female"})" "\n");
    Write("Observation.a.ndjson",
          R"({"resourceType":"Observation","id":"o1","meta":{"lastUpdated":"2024-01-01T00:00:00Z"},"status":"final","subject":{"reference":"Patient/p1"}})" "\n"
          R"({"resourceType":"Observation","id":"o2","meta":{"lastUpdated":"2024-04-01T00:00:00Z"},"status":"preliminary","subject":{"reference":"Patient/p2"}})" "\n");
    Write("Practitioner.a.ndjson",
          R"({"resourceType":"Practitioner","id":"d1","meta":{"lastUpdated":"2024-01-01T00:00:00Z"}})" "\n");
    Write("Group.a.ndjson",
          R"({"resourceType":"Group","id":"g1","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/p2"}},{"entity":{"reference":"Patient/p3"}}]})" "\n");
    fs::create_directories(src_ / "deleted");
    Write("deleted/del.ndjson",
          R"({"resourceType":"Bundle","type":"transaction","meta":{"lastUpdated":"2024-04-15T00:00:00Z"},"entry":[{"request":{"method":"DELETE","url":"Patient/p9"}}]})" "\n");
    jobs_ = std::make_unique<ExportJobs>(src_.path(), work_.path());
  }

  void Write(const std::string& name, const std::string& content) {
    std::ofstream(src_ / name, std::ios::binary) << content;
  }

  JobView RunJob(const bulk::ExportParameters& p, bool lenient = false) {
    auto id = jobs_->Start(p, "http://test/$export", lenient);
    EXPECT_TRUE(id.ok()) << id.status().message();
    std::optional<JobView> view;
    EXPECT_TRUE(WaitFor([&] {
      view = jobs_->Get(*id);
      return view && view->state != JobState::kRunning;
    }));
    EXPECT_EQ(view->state, JobState::kDone) << view->error;
    return *view;
  }

  // "kind:type" → lines of all its files.
  std::map<std::string, std::string> Contents(const JobView& v) {
    std::map<std::string, std::string> out;
    for (const auto& f : v.files) {
      out[f.kind + ":" + f.type] += ReadFile(f.path);
      EXPECT_GT(f.count, 0u);
    }
    return out;
  }

  TempDir src_, work_;
  std::unique_ptr<ExportJobs> jobs_;
};

// The mappings of this process (a thread's stack is one, and its guard page another).
size_t Mappings() {
  std::ifstream maps("/proc/self/maps");
  size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

// Each kick-off runs on a thread; the threads of finished jobs are joined, so a server that
// has run many exports holds no more stacks than it runs at once. (Unjoined, each kept its
// 8 MiB stack mapped: 500 kick-offs grew the server's address space by 4 GB, and under
// a 3 GB limit kick-offs failed from about the 100th.)
TEST_F(ExportJobsTest, FinishedJobsLeaveNoThreadStacksBehind) {
  bulk::ExportParameters p;
  p.types = {"Practitioner"};
  RunJob(p);
  const size_t before = Mappings();
  for (int i = 0; i < 100; ++i) RunJob(p);
  EXPECT_LT(Mappings(), before + 40) << "mappings grew with the number of jobs";
}

TEST_F(ExportJobsTest, SystemExportServesSourceFilesUnchanged) {
  auto v = RunJob({});
  auto c = Contents(v);
  EXPECT_EQ(c["output:Patient"], ReadFile(src_ / "Patient.a.ndjson"));
  EXPECT_EQ(c.count("output:Group"), 1u);
  EXPECT_EQ(c.count("deleted:Bundle"), 0u) << "deleted entries only make sense with _since";
  for (const auto& f : v.files) {
    if (f.type == "Patient") {
      EXPECT_EQ(f.count, 3u);
    }
  }
}

TEST_F(ExportJobsTest, TypeAndSinceSelectResources) {
  bulk::ExportParameters p;
  p.types = {"Patient", "Observation"};
  p.since = "2024-02-01T00:00:00Z";
  auto c = Contents(RunJob(p));
  EXPECT_EQ(c.count("output:Practitioner"), 0u);
  EXPECT_EQ(c["output:Patient"].find("\"p1\""), std::string::npos);
  EXPECT_NE(c["output:Patient"].find("\"p2\""), std::string::npos);
  EXPECT_NE(c["output:Patient"].find("\"p3\""), std::string::npos);
  EXPECT_NE(c["output:Observation"].find("\"o2\""), std::string::npos);
  EXPECT_NE(c["deleted:Bundle"].find("Patient/p9"), std::string::npos);
}

// Deletions are of the types asked for (with --auth, the types the token may read): a Bundle
// deleting several types is cut to the requested ones, and one with none of them is left out.
TEST_F(ExportJobsTest, DeletedEntriesAreOfTheRequestedTypesOnly) {
  Write("deleted/mixed.ndjson",
        R"({"resourceType":"Bundle","type":"transaction","meta":{"lastUpdated":"2024-04-16T00:00:00Z"},"entry":[)"
        R"({"request":{"method":"DELETE","url":"Observation/secret-obs"}},)"
        R"({"request":{"method":"DELETE","url":"http://ehr.example/fhir/Condition/hiv-dx"}},)"
        R"({"request":{"method":"DELETE","url":"Patient/p8"}}]})" "\n");
  bulk::ExportParameters p;
  p.types = {"Patient"};
  p.since = "2024-02-01T00:00:00Z";
  auto c = Contents(RunJob(p));
  EXPECT_NE(c["deleted:Bundle"].find("Patient/p9"), std::string::npos);
  EXPECT_NE(c["deleted:Bundle"].find("Patient/p8"), std::string::npos);
  EXPECT_EQ(c["deleted:Bundle"].find("secret-obs"), std::string::npos) << c["deleted:Bundle"];
  EXPECT_EQ(c["deleted:Bundle"].find("hiv-dx"), std::string::npos) << c["deleted:Bundle"];
  p.types = {"Condition"};
  auto conditions = Contents(RunJob(p));
  EXPECT_NE(conditions["deleted:Bundle"].find("Condition/hiv-dx"), std::string::npos);
  EXPECT_EQ(conditions["deleted:Bundle"].find("Patient/"), std::string::npos) << conditions["deleted:Bundle"];
  p.types = {"Practitioner"};
  EXPECT_EQ(Contents(RunJob(p)).count("deleted:Bundle"), 0u) << "no deletions of Practitioner";
}

TEST_F(ExportJobsTest, UntilBoundsFromAbove) {
  bulk::ExportParameters p;
  p.types = {"Patient"};
  p.until = "2024-02-01T00:00:00Z";
  auto c = Contents(RunJob(p));
  EXPECT_NE(c["output:Patient"].find("\"p1\""), std::string::npos);
  EXPECT_EQ(c["output:Patient"].find("\"p2\""), std::string::npos);
}

TEST_F(ExportJobsTest, PatientLevelLeavesOutNonCompartmentTypes) {
  bulk::ExportParameters p;
  p.level = bulk::ExportLevel::kPatient;
  auto c = Contents(RunJob(p));
  EXPECT_EQ(c.count("output:Practitioner"), 0u);
  EXPECT_EQ(c.count("output:Group"), 0u);
  EXPECT_EQ(std::count(c["output:Patient"].begin(), c["output:Patient"].end(), '\n'), 3);
  EXPECT_EQ(std::count(c["output:Observation"].begin(), c["output:Observation"].end(), '\n'), 2);
}

TEST_F(ExportJobsTest, GroupLevelKeepsOnlyMembers) {
  bulk::ExportParameters p;
  p.level = bulk::ExportLevel::kGroup;
  p.group_id = "g1";
  auto c = Contents(RunJob(p));
  EXPECT_EQ(c["output:Patient"].find("\"p1\""), std::string::npos);
  EXPECT_NE(c["output:Patient"].find("\"p2\""), std::string::npos);
  EXPECT_NE(c["output:Patient"].find("\"p3\""), std::string::npos);
  EXPECT_EQ(c["output:Observation"].find("\"o1\""), std::string::npos);
  EXPECT_NE(c["output:Observation"].find("\"o2\""), std::string::npos);
}

TEST_F(ExportJobsTest, UnknownGroupIsNotFound) {
  bulk::ExportParameters p;
  p.level = bulk::ExportLevel::kGroup;
  p.group_id = "nope";
  auto id = jobs_->Start(p, "r", false);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kNotFound);
}

TEST_F(ExportJobsTest, PatientParameterRestrictsWithinTheGroup) {
  bulk::ExportParameters p;
  p.level = bulk::ExportLevel::kGroup;
  p.group_id = "g1";
  p.patients = {"Patient/p3", "Patient/p1"};
  auto c = Contents(RunJob(p));
  EXPECT_EQ(c["output:Patient"].find("\"p1\""), std::string::npos) << "p1 is not a member";
  EXPECT_EQ(c["output:Patient"].find("\"p2\""), std::string::npos);
  EXPECT_NE(c["output:Patient"].find("\"p3\""), std::string::npos);
}

TEST_F(ExportJobsTest, TypeFilterMatchesTopLevelElements) {
  bulk::ExportParameters p;
  p.types = {"Patient", "Observation"};
  p.type_filters = {"Patient?gender=female", "Observation?status=final,amended"};
  auto c = Contents(RunJob(p));
  EXPECT_NE(c["output:Patient"].find("\"p1\""), std::string::npos);
  EXPECT_EQ(c["output:Patient"].find("\"p2\""), std::string::npos);
  EXPECT_NE(c["output:Observation"].find("\"o1\""), std::string::npos);
  EXPECT_EQ(c["output:Observation"].find("\"o2\""), std::string::npos);
}

TEST_F(ExportJobsTest, UnsupportedParametersAreRefusedUnlessLenient) {
  bulk::ExportParameters p;
  p.type_filters = {"Observation?code:text=heart"};
  auto strict = jobs_->Start(p, "r", false);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("code:text"), std::string::npos);
  p.include_associated_data = {"LatestProvenanceResources"};
  EXPECT_FALSE(jobs_->Start(p, "r", false).ok());
  auto c = Contents(RunJob(p, /*lenient=*/true));
  EXPECT_NE(c["error:OperationOutcome"].find("code:text"), std::string::npos);
  EXPECT_NE(c["error:OperationOutcome"].find("includeAssociatedData"), std::string::npos);
}

TEST_F(ExportJobsTest, ElementsSubsetsAndTagsResources) {
  bulk::ExportParameters p;
  p.types = {"Patient"};
  p.elements = {"Patient.gender"};
  auto c = Contents(RunJob(p));
  EXPECT_NE(c["output:Patient"].find("\"gender\""), std::string::npos);
  EXPECT_NE(c["output:Patient"].find("SUBSETTED"), std::string::npos);
  p.elements = {"active"};
  c = Contents(RunJob(p));
  EXPECT_EQ(c["output:Patient"].find("\"gender\""), std::string::npos);
}

TEST_F(ExportJobsTest, OutputFormatOtherThanNdjsonIsRefused) {
  bulk::ExportParameters p;
  p.output_format = "text/csv";
  EXPECT_EQ(jobs_->Start(p, "r", false).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ExportJobsTest, CancelForgetsTheJobAndItsFiles) {
  bulk::ExportParameters p;
  p.since = "2020-01-01T00:00:00Z";
  auto v = RunJob(p);
  EXPECT_TRUE(fs::exists(work_ / v.id));
  EXPECT_TRUE(jobs_->Cancel(v.id));
  EXPECT_FALSE(jobs_->Get(v.id).has_value());
  EXPECT_FALSE(fs::exists(work_ / v.id));
  EXPECT_FALSE(jobs_->Cancel(v.id));
}

TEST_F(ExportJobsTest, AnotherServerSharingTheWorkDirSeesCompletedJobs) {
  auto v = RunJob({});
  ExportJobs other(src_.path(), work_.path());
  auto seen = other.Get(v.id);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->state, JobState::kDone);
  EXPECT_EQ(seen->files.size(), v.files.size());
  EXPECT_EQ(seen->expires_at, v.expires_at);
  EXPECT_FALSE(other.Get("../../etc").has_value());
}

// A finished job's folder is deleted and the job forgotten once its time is up; before that,
// it says when (the status answer's Expires).
TEST_F(ExportJobsTest, FinishedJobsExpireWithTheirFiles) {
  jobs_ = std::make_unique<ExportJobs>(src_.path(), work_.path(), fs::path(), std::chrono::seconds(1));
  bulk::ExportParameters p;
  p.since = "2020-01-01T00:00:00Z";  // filtered: the job writes files of its own
  const int64_t before = fhir::NowMicros();
  auto v = RunJob(p);
  EXPECT_GE(v.expires_at, before + 1'000'000);
  EXPECT_LE(v.expires_at, fhir::NowMicros() + 1'000'000);
  ASSERT_TRUE(fs::exists(work_ / v.id / "job.json"));
  EXPECT_TRUE(WaitFor([&] { return !fs::exists(work_ / v.id); }, std::chrono::seconds(10))) << "the folder stayed";
  EXPECT_FALSE(jobs_->Get(v.id).has_value());
  EXPECT_FALSE(jobs_->Cancel(v.id));
}

// Folders of jobs this server does not know (an earlier run of it, another server sharing the
// work directory) go when their record says, or, without a record (a job killed while it
// ran), when nothing in them was written for the time a job is kept. Other folders stay.
TEST_F(ExportJobsTest, FoldersOfEarlierRunsExpireByTheirRecordOrLastWrite) {
  // A real job of an earlier run (kept 1 s), gone when its record says.
  jobs_ = std::make_unique<ExportJobs>(src_.path(), work_.path(), fs::path(), std::chrono::seconds(1));
  bulk::ExportParameters p;
  p.since = "2020-01-01T00:00:00Z";
  const std::string earlier = RunJob(p).id;
  jobs_.reset();
  ASSERT_TRUE(fs::exists(work_ / earlier / "job.json"));
  const int64_t now = fhir::NowMicros();
  auto make = [&](const std::string& name, std::optional<int64_t> expires_at) {
    fs::create_directories(work_ / name / "snapshot");
    std::ofstream(work_ / name / "snapshot" / "Patient.ndjson") << "{}\n";
    if (expires_at) std::ofstream(work_ / name / "job.json") << nlohmann::json{{"expiresAt", *expires_at}}.dump();
  };
  auto age = [&](const std::string& name, std::chrono::hours by) {
    const auto then = fs::file_time_type::clock::now() - by;
    for (const auto& e : fs::recursive_directory_iterator(work_ / name)) fs::last_write_time(e.path(), then);
    fs::last_write_time(work_ / name, then);
  };
  make("00000000000000a1", now - 1'000'000);         // its record says: past
  make("00000000000000a2", now + 3'600'000'000LL);   // its record says: in an hour
  make("00000000000000a3", std::nullopt);            // killed, nothing written for 3 hours
  age("00000000000000a3", std::chrono::hours(3));
  make("00000000000000a4", std::nullopt);            // running elsewhere: just written
  make("00000000000000a5", std::nullopt);            // old folder, a file in it written just now
  age("00000000000000a5", std::chrono::hours(3));
  std::ofstream(work_ / "00000000000000a5" / "snapshot" / "Observation.ndjson") << "{}\n";
  make("0000000000000000000000a6", std::nullopt);    // an import's folder (longer id)
  age("0000000000000000000000a6", std::chrono::hours(3));
  make("groups-x", std::nullopt);
  age("groups-x", std::chrono::hours(3));

  ExportJobs jobs(src_.path(), work_.path(), fs::path(), std::chrono::hours(2));
  jobs.Expire();
  EXPECT_TRUE(WaitFor([&] {
    jobs.Expire();
    return !fs::exists(work_ / earlier);
  }, std::chrono::seconds(10)));
  EXPECT_FALSE(fs::exists(work_ / "00000000000000a1"));
  EXPECT_TRUE(fs::exists(work_ / "00000000000000a2"));
  EXPECT_FALSE(fs::exists(work_ / "00000000000000a3"));
  EXPECT_TRUE(fs::exists(work_ / "00000000000000a4"));
  EXPECT_TRUE(fs::exists(work_ / "00000000000000a5"));
  EXPECT_TRUE(fs::exists(work_ / "0000000000000000000000a6"));
  EXPECT_TRUE(fs::exists(work_ / "groups-x"));
}

}  // namespace
}  // namespace fhirlake::server
