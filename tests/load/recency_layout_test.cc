#include "fhirlake/load/recency_layout.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/load/compaction.h"
#include "fhirlake/load/compaction_plan.h"
#include "fhirlake/load/loader.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "tests/support/duckdb.h"
#include "tests/support/temp_dir.h"

namespace fhirlake::load {
namespace {

namespace fs = std::filesystem;
using fhirlake::testing::DuckDb;
using fhirlake::testing::TempDir;
using nlohmann::json;

constexpr int kRows = 400;
constexpr uint64_t kRecentFileBytes = 600 << 10;  // rows carry ~2 KB of text (a footer is ~170 KB)

// Patient i was last updated i hours after 2024-01-01.
std::string HourStamp(int i) { return fhir::FormatInstant(fhir::ParseFhirTime("2024-01-01T00:00:00Z").value() + i * 3600000000LL); }

class RecencyLayoutTest : public ::testing::Test {
 protected:
  std::string Patient(const std::string& id, const std::string& stamp) {
    std::string text;
    uint64_t x = std::hash<std::string>{}(id + stamp) | 1;
    for (int k = 0; k < 512; ++k) {  // incompressible enough that rows, not footers, make the file sizes
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      text += "0123456789abcdef"[x & 15];
      text += "0123456789abcdef"[(x >> 4) & 15];
      text += "0123456789abcdef"[(x >> 8) & 15];
      text += "0123456789abcdef"[(x >> 12) & 15];
    }
    return json{{"resourceType", "Patient"}, {"id", id}, {"meta", {{"lastUpdated", stamp}}},
                {"text", {{"status", "generated"}, {"div", "<div xmlns=\"http://www.w3.org/1999/xhtml\">" + text + "</div>"}}}}
        .dump();
  }
  // Merges `rows` (id, lastUpdated) and deletes `deleted`; returns the commit's version.
  int64_t Merge(const std::vector<std::pair<std::string, std::string>>& rows, const std::vector<std::string>& deleted = {}) {
    const fs::path exp = dir_ / ("export-" + std::to_string(loads_++));
    fs::create_directories(exp / "deleted");
    std::ofstream out(exp / "Patient.000.ndjson");
    for (const auto& [id, stamp] : rows) {
      out << Patient(id, stamp) << "\n";
      ids_.insert(id);
    }
    out.close();
    if (!deleted.empty()) {
      std::ofstream bundle(exp / "deleted" / "Bundle.000.ndjson");
      json entries = json::array();
      for (const auto& id : deleted) {
        entries.push_back({{"request", {{"method", "DELETE"}, {"url", "Patient/" + id}}}});
        ids_.erase(id);
      }
      bundle << json{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}}.dump() << "\n";
    }
    LoadOptions o;
    o.export_dir = exp;
    o.warehouse = dir_ / "wh";
    o.mode = SaveMode::kMerge;
    o.target_file_bytes = 4 << 20;
    o.recent_file_bytes = kRecentFileBytes;
    auto r = Load(o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() && !r->tables.empty() ? r->tables[0].version : -1;
  }
  fs::path root() { return dir_ / "wh" / "Patient"; }
  delta::Snapshot Snapshot() {
    auto s = delta::Table(root()).Load();
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : delta::Snapshot{};
  }
  // The add and remove actions of commit `version`.
  std::pair<std::vector<json>, std::vector<json>> Actions(int64_t version) {
    std::string name = std::to_string(version);
    std::ifstream in(root() / "_delta_log" / (std::string(20 - name.size(), '0') + name + ".json"));
    std::vector<json> adds, removes;
    for (std::string line; std::getline(in, line);) {
      json a = json::parse(line);
      if (a.contains("add")) adds.push_back(a["add"]);
      if (a.contains("remove")) removes.push_back(a["remove"]);
    }
    return {adds, removes};
  }
  // DuckDB's count and distinct ids must be the ids this test expects to be live.
  void ExpectLiveRows() {
    json got = DuckDb("SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids, string_agg(id, ',' ORDER BY id) AS all_ids FROM t",
                      {{"t", root()}});
    ASSERT_TRUE(got.is_array()) << got.dump();
    std::string expected;
    for (const auto& id : ids_) expected += (expected.empty() ? "" : ",") + id;
    EXPECT_EQ(got[0]["n"], ids_.size());
    EXPECT_EQ(got[0]["ids"], ids_.size());
    EXPECT_EQ(got[0]["all_ids"], expected);
  }
  const delta::AddFile* Biggest(const delta::Snapshot& s) {
    const delta::AddFile* big = nullptr;
    for (const auto& f : s.files) if (!big || f.size > big->size) big = &f;
    return big;
  }
  void LoadInitial() {
    std::vector<std::pair<std::string, std::string>> rows;
    for (int i = 0; i < kRows; ++i) rows.emplace_back("p" + std::to_string(1000 + i), HourStamp(i));
    Merge(rows);
  }

  TempDir dir_;
  int loads_ = 0;
  std::set<std::string> ids_;  // sorted as DuckDB orders ASCII ids
};

TEST_F(RecencyLayoutTest, FirstLoadPutsTheNewestRowsInASmallFileOfTheirOwn) {
  LoadInitial();
  delta::Snapshot s = Snapshot();
  ASSERT_EQ(s.files.size(), 2u);
  const delta::AddFile* big = Biggest(s);
  const delta::AddFile* small = &s.files[0] == big ? &s.files[1] : &s.files[0];
  EXPECT_GE(static_cast<uint64_t>(big->size), kRecentFileBytes);
  EXPECT_LT(static_cast<uint64_t>(small->size), kRecentFileBytes);
  EXPECT_EQ(small->num_records, kRows / 10 + 1);
  EXPECT_LT(MaxLastUpdated(*big).value(), MinLastUpdated(*small).value()) << "the tiers do not overlap in time";
  ExpectLiveRows();
}

// Two writers' files, joined: per tier, the files short of the tier's target (each writer's
// last) become one; files of the target size stay as written; every row is kept once and the
// joined files are removed.
TEST_F(RecencyLayoutTest, JoinSmallFilesJoinsEachTiersShortFilesOnly) {
  fs::create_directories(root());
  const delta::Table table(root());
  const parquet::Schema schema = BuildTableSchema("Patient");
  parquet::WriterOptions writer;
  writer.row_group_bytes = 64 << 10;
  const int64_t recent_from = fhir::ParseFhirTime(HourStamp(700)).value();
  const RecencyLayout layout{1 << 20, 1 << 20, recent_from};  // row groups of 256 rows, ~700 KB
  LayoutFiles a(table, schema, writer, layout), b(table, schema, writer, layout), into(table, schema, writer, layout);
  auto add = [&](LayoutFiles& out, const std::string& id, int hour) {
    const std::string line = Patient(id, HourStamp(hour)) + std::string(fhir::NdjsonReader::kPadding, '\0');
    Status refused;
    ASSERT_TRUE(out.Add(std::string_view(line.data(), line.size() - fhir::NdjsonReader::kPadding), nullptr, &refused).ok());
    ASSERT_TRUE(refused.ok()) << refused.message();
  };
  for (int i = 0; i < 900; ++i) add(a, "a" + std::to_string(i), i);
  for (int i = 0; i < 300; ++i) add(b, "b" + std::to_string(i), 3 * i);
  ASSERT_TRUE(a.Close().ok());
  ASSERT_TRUE(b.Close().ok());
  auto is_recent = [&](const delta::AddFile& f) { return MinLastUpdated(f).value_or(0) >= recent_from; };
  auto target = [&](const delta::AddFile& f) { return is_recent(f) ? layout.recent_file_bytes : layout.target_file_bytes; };
  std::set<std::string> big_before;
  size_t short_before = 0;
  for (const LayoutFiles* part : {&a, &b}) {
    for (const auto& f : part->Adds()) {
      if (static_cast<uint64_t>(f.size) >= target(f)) big_before.insert(f.path);
      else ++short_before;
    }
  }
  ASSERT_FALSE(big_before.empty()) << "a file of the target size to leave alone";
  ASSERT_GE(short_before, 4u) << "a short file per writer and tier";

  ASSERT_TRUE(LayoutFiles::JoinSmallFiles({&a, &b}, 32u << 20, into).ok());
  std::set<std::string> listed, big_after;
  int64_t rows = 0;
  size_t short_older = 0, short_recent = 0;
  for (const LayoutFiles* part : {&a, &b, &into}) {
    for (const auto& f : part->Adds()) {
      listed.insert(f.path);
      rows += f.num_records;
      if (static_cast<uint64_t>(f.size) >= target(f)) big_after.insert(f.path);
      else ++(is_recent(f) ? short_recent : short_older);
    }
  }
  for (const auto& path : big_before) EXPECT_TRUE(big_after.count(path)) << path << " was rewritten";
  EXPECT_LE(short_older, 1u);
  EXPECT_LE(short_recent, 1u);
  EXPECT_EQ(rows, 1200);
  std::set<std::string> on_disk;
  for (const auto& e : fs::directory_iterator(root())) {
    if (e.path().extension() == ".parquet") on_disk.insert(e.path().filename().string());
  }
  EXPECT_EQ(on_disk, listed) << "the joined files are removed";
  // Each file holds its rows once: the ids read back from every file are the 1,200 written.
  std::multiset<std::string> ids;
  for (const auto& path : listed) {
    json got = DuckDb("SELECT id FROM read_parquet('" + (root() / path).string() + "')", {});
    ASSERT_TRUE(got.is_array()) << got.dump();
    for (const auto& row : got) ids.insert(row["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 1200u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1200u);
  a.Keep(), b.Keep(), into.Keep();
}

TEST_F(RecencyLayoutTest, RealisticMergeRewritesOnlyTheRecentFile) {
  LoadInitial();
  const std::string big_path = Biggest(Snapshot())->path;
  // New resources, updates of recently changed ones, deletions of recent ones.
  std::vector<std::pair<std::string, std::string>> rows;
  for (int i = 0; i < 30; ++i) rows.emplace_back("n" + std::to_string(i), HourStamp(kRows + 10));
  for (int i = 390; i < 395; ++i) rows.emplace_back("p" + std::to_string(1000 + i), HourStamp(kRows + 10));
  const int64_t v = Merge(rows, {"p1380", "p1381"});
  auto [adds, removes] = Actions(v);
  ASSERT_EQ(removes.size(), 1u) << "only the recent file held changed rows";
  EXPECT_NE(removes[0]["path"], big_path);
  bool big_kept = false;
  for (const auto& f : Snapshot().files) big_kept = big_kept || f.path == big_path;
  EXPECT_TRUE(big_kept);
  EXPECT_EQ(adds.size(), 1u) << "kept recent rows and the incoming rows share one small file";
  ExpectLiveRows();

  // A merge of new resources only removes nothing.
  const int64_t v2 = Merge({{"n100", HourStamp(kRows + 20)}, {"n101", HourStamp(kRows + 20)}});
  auto [adds2, removes2] = Actions(v2);
  EXPECT_EQ(removes2.size(), 0u);
  EXPECT_EQ(adds2.size(), 1u);
  ExpectLiveRows();
}

TEST_F(RecencyLayoutTest, UpdateOfAnOldRowKeepsTheOthersInABigFile) {
  LoadInitial();
  const std::string big_path = Biggest(Snapshot())->path;
  const int64_t v = Merge({{"p1005", HourStamp(kRows + 10)}}, {"p1000"});
  auto [adds, removes] = Actions(v);
  ASSERT_EQ(removes.size(), 1u);
  EXPECT_EQ(removes[0]["path"], big_path);
  ASSERT_EQ(adds.size(), 2u) << "the big file's other rows, and the update in a small file";
  std::vector<int64_t> sizes = {adds[0]["size"], adds[1]["size"]};
  std::sort(sizes.begin(), sizes.end());
  EXPECT_LT(static_cast<uint64_t>(sizes[0]), kRecentFileBytes);
  EXPECT_GE(static_cast<uint64_t>(sizes[1]), kRecentFileBytes);
  json p5 = DuckDb("SELECT json_extract_string(_json, '$.meta.lastUpdated') AS t FROM t WHERE id = 'p1005'", {{"t", root()}});
  ASSERT_TRUE(p5.is_array()) << p5.dump();
  ASSERT_EQ(p5.size(), 1u);
  EXPECT_EQ(p5[0]["t"], HourStamp(kRows + 10));
  ExpectLiveRows();
}

TEST_F(RecencyLayoutTest, SeveralMergesThenCompactionKeepEveryRow) {
  LoadInitial();
  const std::string big_path = Biggest(Snapshot())->path;
  for (int m = 0; m < 6; ++m) {
    std::vector<std::pair<std::string, std::string>> rows;
    const std::string stamp = HourStamp(kRows + 10 * (m + 1));
    for (int i = 0; i < 20; ++i) rows.emplace_back("m" + std::to_string(m) + "-" + std::to_string(i), stamp);
    if (m > 0) rows.emplace_back("m" + std::to_string(m - 1) + "-3", stamp);  // an update of a recent one
    rows.emplace_back("p" + std::to_string(1399 - m), stamp);
    Merge(rows, {"p" + std::to_string(1370 + m)});
    ExpectLiveRows();
  }
  for (int m = 0; m < 3; ++m) {  // new resources only: their small files accumulate
    std::vector<std::pair<std::string, std::string>> rows;
    for (int i = 0; i < 20; ++i) rows.emplace_back("q" + std::to_string(m) + "-" + std::to_string(i), HourStamp(kRows + 100 + m));
    Merge(rows);
  }
  ExpectLiveRows();
  delta::Snapshot before = Snapshot();
  bool big_kept = false;
  for (const auto& f : before.files) big_kept = big_kept || f.path == big_path;
  EXPECT_TRUE(big_kept) << "six merges of recent changes never rewrote the big file";

  CompactionPolicy policy;
  policy.small_file_bytes = kRecentFileBytes;
  policy.target_file_bytes = 4 << 20;
  auto compacted = Compact(root(), "Patient", policy);
  ASSERT_TRUE(compacted.ok()) << compacted.status().message();
  delta::Snapshot after = Snapshot();
  big_kept = false;
  for (const auto& f : after.files) big_kept = big_kept || f.path == big_path;
  EXPECT_TRUE(big_kept) << "compaction merges small files, not the big one";
  EXPECT_GE(compacted->files_removed, 2) << "the small files of the merges";
  EXPECT_LT(compacted->files_removed, static_cast<int>(before.files.size()));
  ExpectLiveRows();
}

// Picking files: synthetic add actions (size, and the meta.lastUpdated range in add.stats).
delta::AddFile File(const std::string& path, int64_t size, int hour = 0) {
  delta::AddFile f;
  f.path = path;
  f.size = size;
  f.num_records = 10;
  f.stats_json = json{{"numRecords", 10},
                      {"minValues", {{"meta", {{"lastUpdated", HourStamp(hour)}}}}},
                      {"maxValues", {{"meta", {{"lastUpdated", HourStamp(hour + 1)}}}}}}.dump();
  return f;
}
std::vector<std::string> Paths(const std::vector<delta::AddFile>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path);
  return out;
}

TEST(PickFilesToCompactTest, NeedsTwoSmallFiles) {
  CompactionPolicy policy;
  EXPECT_TRUE(PickFilesToCompact({File("big", 300 << 20), File("one", 1 << 20)}, policy).empty());
}

TEST(PickFilesToCompactTest, LeavesASmallFileMuchLargerThanTheOnesItWouldAbsorb) {
  CompactionPolicy policy;
  policy.recent_fraction = 0;  // the size rule alone (tiers: RecentFilesAreNotMergedIntoFilesOfOlderRows)
  auto picked = PickFilesToCompact({File("grown", 20 << 20, 1), File("a", 1 << 20, 5), File("b", 1 << 20, 6)}, policy);
  EXPECT_EQ(Paths(picked), (std::vector<std::string>{"a", "b"}));
  // Once enough small files accumulated, the grown one joins them.
  picked = PickFilesToCompact({File("grown", 20 << 20, 1), File("a", 4 << 20, 5), File("b", 4 << 20, 6), File("c", 4 << 20, 7)},
                              policy);
  EXPECT_EQ(Paths(picked), (std::vector<std::string>{"grown", "a", "b", "c"})) << "in meta.lastUpdated order";
}

// The recency layout after a two-job merge: two files of older rows and the newest tenth of
// the rows in two files of their own. Size-tiered alone, the two recent files (together half
// the size of an older one) would draw both older files in, and from then on every merge of a
// recent change would rewrite the whole table.
TEST(PickFilesToCompactTest, RecentFilesAreNotMergedIntoFilesOfOlderRows) {
  auto rows = [](delta::AddFile f, int64_t n) {
    f.num_records = n;
    return f;
  };
  const auto older_1 = rows(File("older-1", 3'100'000, 0), 34'800), older_2 = rows(File("older-2", 4'200'000, 0), 48'100);
  const auto recent_1 = rows(File("recent-1", 700'000, 10), 4'400), recent_2 = rows(File("recent-2", 900'000, 10), 4'800);
  CompactionPolicy policy;
  EXPECT_EQ(Paths(PickFilesToCompact({older_1, older_2, recent_1, recent_2}, policy)),
            (std::vector<std::string>{"older-1", "older-2"}))
      << "the older tier first";
  const auto older = rows(File("older", 7'300'000, 0), 82'900);
  EXPECT_EQ(Paths(PickFilesToCompact({older, recent_1, recent_2}, policy)),
            (std::vector<std::string>{"recent-1", "recent-2"}));
  EXPECT_TRUE(PickFilesToCompact({older, rows(File("recent", 1'600'000, 10), 9'200)}, policy).empty());
  policy.recent_fraction = 0;  // one tier: size alone decides, and draws the older files in
  EXPECT_EQ(PickFilesToCompact({older_1, older_2, recent_1, recent_2}, policy).size(), 4u);
  policy.recent_fraction = 0.1;
  policy.recent_file_bytes = 10'000'000;  // a table smaller than one recent file: one tier too
  EXPECT_EQ(PickFilesToCompact({older_1, older_2, recent_1, recent_2}, policy).size(), 4u);
}

TEST(PickFilesToCompactTest, BoundsTheSetByTheTargetSize) {
  CompactionPolicy policy;
  policy.recent_fraction = 0;
  policy.target_file_bytes = 64 << 20;
  std::vector<delta::AddFile> files;
  for (int i = 0; i < 20; ++i) files.push_back(File("f" + std::to_string(i), 10 << 20, 20 - i));
  auto picked = PickFilesToCompact(files, policy);
  EXPECT_EQ(picked.size(), 6u);
  uint64_t total = 0;
  for (const auto& f : picked) total += f.size;
  EXPECT_LE(total, policy.target_file_bytes);
  for (size_t i = 1; i < picked.size(); ++i) EXPECT_LT(MinLastUpdated(picked[i - 1]), MinLastUpdated(picked[i]));
}

TEST(PickFilesToCompactTest, AlwaysPicksFilesWithManyDeletedRows) {
  CompactionPolicy policy;
  delta::AddFile holey = File("holey", 300 << 20);
  holey.deletion_vector = delta::DeletionVector{};
  holey.deletion_vector->cardinality = 5;
  auto picked = PickFilesToCompact({holey, File("big", 300 << 20)}, policy);
  EXPECT_EQ(Paths(picked), (std::vector<std::string>{"holey"}));
}

TEST(RecencyLayoutPlanTest, FullWriteSplitsTheNewestTenthWhenLargeEnough) {
  RecencyLayoutOptions options;
  options.recent_file_bytes = 1000;
  std::vector<int64_t> times;
  for (int i = 0; i < 100; ++i) times.push_back(i);
  EXPECT_EQ(LayoutForFullWrite(times, 999, options).recent_from, RecencyLayout::kNothingRecent);
  EXPECT_EQ(LayoutForFullWrite(times, 1000, options).recent_from, 89);
  options.recent_file_bytes = 0;
  EXPECT_EQ(LayoutForFullWrite(times, 1000, options).recent_from, RecencyLayout::kNothingRecent);
}

TEST(RecencyLayoutPlanTest, MergeTreatsRowsNewerThanEveryBigFileAsRecent) {
  RecencyLayoutOptions options;
  options.recent_file_bytes = 1000;
  EXPECT_FALSE(LayoutForMerge({File("small", 999, 50)}, options).has_value());
  auto layout = LayoutForMerge({File("old", 5000, 10), File("older", 5000, 3), File("small", 999, 50)}, options);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->recent_from, fhir::ParseFhirTime(HourStamp(11)).value() + 1000);
}

}  // namespace
}  // namespace fhirlake::load
