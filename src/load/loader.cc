#include "fhirlake/load/loader.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "fhirlake/delta/object_files.h"
#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/ndjson_files.h"
#include "fhirlake/fhir/type_model.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/fhir/operation_outcome.h"
#include "fhirlake/load/commit_retry.h"
#include "fhirlake/load/data_files.h"
#include "fhirlake/load/file_stats.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/line_identity.h"
#include "fhirlake/load/parallel_rows.h"
#include "fhirlake/load/recency_layout.h"
#include "fhirlake/load/stored_rows.h"
#include "fhirlake/load/thread_budget.h"
#include "fhirlake/load/tombstones.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/row_copy.h"
#include "fhirlake/store/crash_point.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/json_field.h"

namespace fhirlake::load {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int64_t kNoTime = INT64_MIN;  // a resource without meta.lastUpdated

const char* ModeName(SaveMode m) {
  switch (m) {
    case SaveMode::kMerge: return "merge";
    case SaveMode::kOverwrite: return "overwrite";
    case SaveMode::kAppend: return "append";
    case SaveMode::kIgnore: return "ignore";
    case SaveMode::kError: return "error";
  }
  return "?";
}

// The export's transactionTime, when it has a manifest.
std::string TransactionTime(const fs::path& dir) {
  auto text = store::ReadSmallFile(dir / "manifest.json");
  if (!text.ok()) return "";
  json m = ParseJsonFromOutside(*text);
  return m.is_object() ? FieldOr(m, "transactionTime", "") : "";
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A test hook to make writers race: with FHIRLAKE_TEST_COMMIT_GATE=DIR, each first commit
// attempt creates DIR/ready.<pid> and waits (up to a minute) until DIR/open exists.
void MaybeWaitAtGate() {
  const char* dir = std::getenv("FHIRLAKE_TEST_COMMIT_GATE");
  if (!dir) return;
  std::ofstream(fs::path(dir) / ("ready." + std::to_string(::getpid())));
  for (int i = 0; i < 6000 && !fs::exists(fs::path(dir) / "open"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

class ErrorLog {
 public:
  ErrorLog(store::ObjectStore& warehouse, const std::string& type) : warehouse_(warehouse), type_(type) {}
  void Add(const fs::path& file, uint64_t line, const std::string& why) {
    if (!out_ && failed_.ok()) {
      key_ = store::WarehouseLayout::ErrorFile(type_ + "." + std::to_string(fhir::NowMicros()) + "." +
                                               store::RandomHex(4) + ".ndjson");
      auto writer = warehouse_.NewWriter(key_);
      if (writer.ok()) {
        out_ = std::move(writer.value());
      } else {
        failed_ = writer.status();
      }
    }
    std::string text = file.filename().string() + " line " + std::to_string(line) + ": " + why;
    if (out_ && failed_.ok()) failed_ = out_->Append(fhir::OperationOutcome::Error("invalid", text).ToJson() + "\n");
    ++count_;
  }
  uint64_t count() const { return count_; }
  // Where the log is (after Publish), a local path or an s3:// location.
  fs::path location() const { return store::WarehouseLayout(warehouse_.Describe()).Locate(key_); }
  // Makes the log visible under _errors/ (the attempt was committed).
  Status Publish() {
    if (!failed_.ok()) return failed_.WithContext("cannot write the error log " + key_);
    if (!out_) return Status::Ok();
    Status closed = out_->Close();
    out_.reset();
    return closed;
  }
  // Forgets what was logged (an attempt that is retried logs again): an unpublished writer
  // leaves nothing behind.
  void Discard() { out_.reset(); }

 private:
  store::ObjectStore& warehouse_;
  std::string type_;
  std::unique_ptr<store::ObjectWriter> out_;
  std::string key_;
  Status failed_;
  uint64_t count_ = 0;
};

// Calls `fn(line, line_number)` for each non-blank line of `file`. Over-long lines go to
// `on_long(line_number, why)` and are skipped; a read error ends the file and is reported
// the same way.
template <typename Fn, typename OnLong>
Status ForEachLine(const fs::path& file, size_t max_line_bytes, Fn&& fn, OnLong&& on_long) {
  auto reader = fhir::NdjsonReader::Open(file, max_line_bytes);
  if (!reader.ok()) return reader.status();
  std::string_view line;
  while (true) {
    if (!reader->Next(line)) {
      if (!reader->line_too_long()) break;
      on_long(reader->line_number() + 1, reader->status().message());
      FHIRLAKE_RETURN_IF_ERROR(reader->SkipLongLine());
      continue;
    }
    if (!fhir::IsBlankLine(line)) FHIRLAKE_RETURN_IF_ERROR(fn(line, reader->line_number()));
  }
  if (!reader->status().ok()) {
    on_long(reader->line_number() + 1, reader->status().message() + "; the rest of the file was not read");
  }
  return Status::Ok();
}

// Two independent 64-bit hashes of a resource id; ids compare by both.
struct IdKey {
  uint64_t a = 0, b = 0;
  bool operator==(const IdKey&) const = default;
  auto operator<=>(const IdKey&) const = default;
};
uint64_t KeyA(std::string_view id) { return std::hash<std::string_view>{}(id); }
IdKey KeyOf(std::string_view id) {
  uint64_t fnv = 1469598103934665603ull;
  for (unsigned char c : id) fnv = (fnv ^ c) * 1099511628211ull;
  return {KeyA(id), fnv};
}
struct IdKeyHash {
  size_t operator()(const IdKey& k) const { return k.a ^ (k.b * 0x9E3779B97F4A7C15ull); }
};

using DeletedIds = std::unordered_set<IdKey, IdKeyHash>;

// The ids a merge looks for among the stored rows (incoming winners, deleted ids), as bits
// of IdKey::a: most stored rows are none of them, and one bit tells, before the full key is
// hashed and searched for. About 16 bits per id: ~6 % of other ids pass.
class KeyFilter {
 public:
  explicit KeyFilter(size_t ids) : bits_(std::bit_ceil(std::max<size_t>(ids * 16, 4096)) / 64) {}
  void Add(uint64_t a) { bits_[(a >> 6) & (bits_.size() - 1)] |= uint64_t{1} << (a & 63); }
  bool MayHave(uint64_t a) const { return bits_[(a >> 6) & (bits_.size() - 1)] >> (a & 63) & 1; }

 private:
  std::vector<uint64_t> bits_;
};

// Where a line is: file number in the type's list and 1-based line number.
uint64_t PositionOf(size_t file, uint64_t line) { return (static_cast<uint64_t>(file) << 40) | line; }

// The bytes of `files` (those that can be read).
uint64_t InputBytes(const std::vector<fs::path>& files) {
  uint64_t bytes = 0;
  for (const auto& file : files) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (!ec) bytes += size;
  }
  return bytes;
}

// One valid incoming resource, as the first pass sees it.
struct Incoming {
  IdKey key;
  int64_t last_updated;
  uint64_t position;
};

// The winners of an incoming batch (one per id: the latest meta.lastUpdated, the later line on
// ties) and the positions of every line that must not be written.
struct IncomingIndex {
  std::vector<Incoming> winners;  // sorted by key: a sorted array, not a hash map of nodes
  std::unordered_set<uint64_t> skip;      // positions of lines that lost
  std::unordered_set<uint64_t> contested;  // positions of winners that beat another line of their id
  // The winners' positions and meta.lastUpdated, in line order: the write finds each line's
  // time here as it reads the lines in the same order, instead of parsing it again.
  std::vector<std::pair<uint64_t, int64_t>> times;
  const Incoming* Find(const IdKey& key) const {
    auto it = std::lower_bound(winners.begin(), winners.end(), key,
                               [](const Incoming& in, const IdKey& k) { return in.key < k; });
    return it != winners.end() && it->key == key ? &*it : nullptr;
  }
};

// First pass over the incoming files: which lines are resources of `type` with an id, and
// their meta.lastUpdated. Lines at `excluded` positions (refused by the shredder) are left out.
Result<IncomingIndex> IndexIncoming(const std::string& type, const std::vector<fs::path>& files, size_t max_line_bytes,
                                    const std::unordered_set<uint64_t>& excluded) {
  simdjson::ondemand::parser parser;
  std::vector<Incoming> all;
  // Room for a line per 256 bytes up front (FHIR resources are rarely shorter), not grown by
  // doubling: pages reserved and never touched cost nothing.
  all.reserve(static_cast<size_t>(InputBytes(files) / 256));
  for (size_t f = 0; f < files.size(); ++f) {
    Status s = ForEachLine(
        files[f], max_line_bytes,
        [&](std::string_view line, uint64_t number) {
          const uint64_t position = PositionOf(f, number);
          const auto identity = ReadIdentity(parser, line);
          if (!identity || identity->resource_type != type || excluded.count(position)) return Status::Ok();
          int64_t t = kNoTime;
          if (!identity->last_updated.empty()) t = fhir::ParseFhirTime(identity->last_updated).value_or(kNoTime);
          all.push_back({KeyOf(identity->id), t, position});
          return Status::Ok();
        },
        [](uint64_t, const std::string&) {});
    FHIRLAKE_RETURN_IF_ERROR(s);
  }
  std::sort(all.begin(), all.end(), [](const Incoming& x, const Incoming& y) {
    if (x.key != y.key) return x.key < y.key;
    if (x.last_updated != y.last_updated) return x.last_updated < y.last_updated;
    return x.position < y.position;
  });
  IncomingIndex index;
  index.times.reserve(all.size());
  size_t kept = 0;  // the winners are compacted to the front of `all`, still sorted by key
  bool beat_others = false;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i + 1 < all.size() && all[i + 1].key == all[i].key) {
      index.skip.insert(all[i].position);
      beat_others = true;
    } else {
      index.times.emplace_back(all[i].position, all[i].last_updated);
      if (beat_others) index.contested.insert(all[i].position);
      beat_others = false;
      all[kept++] = all[i];
    }
  }
  all.resize(kept);
  index.winners = std::move(all);
  std::sort(index.times.begin(), index.times.end());
  return index;
}

// The ids that deleted/ Bundles name, by resource type. Entries look like
// {"request": {"method": "DELETE", "url": "Patient/123"}}.
Result<std::map<std::string, DeletedIds>> ReadDeleted(const LoadOptions& o, LoadSummary& summary) {
  std::map<std::string, DeletedIds> out;
  ErrorLog errors(*o.warehouse_store, "deleted");
  simdjson::dom::parser parser;
  for (const auto& file : fhir::ListNdjsonFiles(o.export_dir / "deleted")) {
    Status s = ForEachLine(
        file, o.max_line_bytes,
        [&](std::string_view line, uint64_t number) {
          simdjson::dom::element doc;
          simdjson::dom::array entries;
          std::string_view rt;
          if (parser.parse(line.data(), line.size(), false).get(doc) || doc["resourceType"].get(rt) || rt != "Bundle") {
            errors.Add(file, number, "not a Bundle");
            return Status::Ok();
          }
          if (doc["entry"].get(entries)) return Status::Ok();
          for (auto entry : entries) {
            std::string_view url;
            if (entry.at_pointer("/request/url").get(url)) {
              errors.Add(file, number, "a deleted entry has no request.url");
              continue;
            }
            const auto split = fhir::SplitTypeAndId(url);
            if (!split) {
              errors.Add(file, number, "request.url '" + std::string(url) + "' is not Type/id");
              continue;
            }
            out[std::string(split->type)].insert(KeyOf(split->id));
          }
          return Status::Ok();
        },
        [&](uint64_t number, const std::string& why) { errors.Add(file, number, why); });
    FHIRLAKE_RETURN_IF_ERROR(s);
  }
  summary.bad_lines += errors.count();
  FHIRLAKE_RETURN_IF_ERROR(errors.Publish());
  if (errors.count()) summary.error_files.push_back(errors.location());
  return out;
}

// What a merge does to one existing data file.
struct FilePlan {
  const delta::AddFile* file;
  std::vector<uint64_t> dropped;  // rows this merge drops, ascending
  std::vector<uint64_t> deleted;  // rows the file's deletion vector already drops, ascending
  uint64_t physical_rows = 0;
  // The reader planning opened, kept for the copy of the kept rows (its footer is not parsed
  // twice); null beyond the first kKeptReaders plans, as each holds its footer in memory.
  std::shared_ptr<parquet::FileReader> reader;

  // Every row that is gone after the merge, ascending.
  std::vector<uint64_t> AllGone() const {
    std::vector<uint64_t> all;
    std::merge(dropped.begin(), dropped.end(), deleted.begin(), deleted.end(), std::back_inserter(all));
    return all;
  }
};

// What a merge finds in one existing data file: its plan when it loses rows, and the winners
// it touches.
struct FileFindings {
  std::optional<FilePlan> plan;
  std::vector<uint64_t> stale;     // positions of winners the file holds a later version of
  std::vector<uint64_t> replaced;  // positions of winners that replace one of its rows
  std::vector<std::string> deleted_ids;  // ids of its rows that the deletions remove
};

// How many plans of a merge keep their file's reader (FilePlan::reader).
constexpr int kKeptReaders = 16;

// Reads the `id` and `meta.lastUpdated` columns of `add` and compares each row with the
// incoming winners (`wanted` rules most ids out cheaply) and the deleted ids. The plan keeps
// the reader while `readers_left`, shared by the merge's files, is positive.
Status PlanFile(const delta::Table& table, const delta::AddFile& add, const IncomingIndex& index,
                const KeyFilter& wanted, const DeletedIds* deleted, std::atomic<int>& readers_left,
                FileFindings& out) {
  auto reader = parquet::FileReader::Open(delta::OpenObjectSource(table.store(), table.Key(add.path)));
  if (!reader.ok()) return reader.status();
  const int id_col = (*reader)->FindColumn("id"), time_col = (*reader)->FindColumn("meta.lastUpdated");
  if (id_col < 0) return DataLoss((table.root() / add.path).string() + " has no id column");
  FilePlan plan{&add, {}, {}, static_cast<uint64_t>((*reader)->rows()), nullptr};
  auto gone = DeletedRowsOf(table, add);
  if (!gone.ok()) return gone.status().WithContext(add.path);
  plan.deleted = std::move(gone.value());
  size_t next_gone = 0;
  uint64_t row = 0;
  struct Match {
    size_t slot;  // the row in the row group
    uint64_t row;
    const Incoming* in;
  };
  std::vector<Match> matches;  // a row group's rows that incoming winners stand for
  for (size_t g = 0; g < (*reader)->row_group_count(); ++g) {
    const size_t group_dropped = plan.dropped.size();
    matches.clear();
    size_t i = 0;  // the row in the row group
    // The ids a page at a time, as views: a row group's ids are not copied.
    Status walked = (*reader)->ForEachPage(g, id_col, [&](const parquet::PageValues& ids) {
      size_t next = 0;
      for (size_t k = 0; k < ids.size(); ++k, ++i, ++row) {
        const bool present = ids.present(k);
        const std::string_view id = present ? ids.strings[next++] : std::string_view();
        if (next_gone < plan.deleted.size() && plan.deleted[next_gone] == row) {
          ++next_gone;  // deleted earlier
          continue;
        }
        if (!present || !wanted.MayHave(KeyA(id))) continue;
        const IdKey key = KeyOf(id);
        if (const Incoming* in = index.Find(key)) {
          matches.push_back({i, row, in});
        } else if (deleted && deleted->count(key)) {
          plan.dropped.push_back(row);
          out.deleted_ids.emplace_back(id);
        }
      }
      return Status::Ok();
    });
    if (!walked.ok()) return walked;
    if (matches.empty()) continue;
    // meta.lastUpdated is read only for row groups that hold a winner's id (most row groups of
    // a big table hold none): a stored row later than the incoming line stays.
    parquet::ColumnValues times;
    if (time_col >= 0) {
      auto t = (*reader)->ReadColumn(g, time_col);
      if (!t.ok()) return t.status();
      times = std::move(t.value());
    }
    for (const Match& m : matches) {
      const int64_t stored = m.slot < times.size() && times.present[m.slot] ? times.ints[m.slot] : kNoTime;
      if (stored != kNoTime && m.in->last_updated != kNoTime && stored > m.in->last_updated) {
        out.stale.push_back(m.in->position);  // the table holds a later version
      } else {
        plan.dropped.push_back(m.row);
        out.replaced.push_back(m.in->position);
      }
    }
    std::sort(plan.dropped.begin() + static_cast<ptrdiff_t>(group_dropped), plan.dropped.end());
  }
  if (plan.dropped.empty()) return Status::Ok();
  if (readers_left.fetch_sub(1) > 0) plan.reader = std::move(reader.value());
  out.plan = std::move(plan);
  return Status::Ok();
}

// Runs fn(0 .. n-1) on this thread and on helper threads while `budget` (may be null) has
// places free, each index once; returns when all are done.
void ForEachIndex(size_t n, ThreadBudget* budget, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> helpers;
  while (budget && helpers.size() + 1 < n && budget->TryAcquire()) {
    helpers.emplace_back([&] {
      work();
      budget->Release();
    });
  }
  work();
  for (auto& t : helpers) t.join();
}

// Compares the table's rows with the incoming winners and the deleted ids, file by file on as
// many threads as the budget allows. Fills the plan of every file that loses rows (in the
// snapshot's order), adds stale incoming lines to `index.skip`, collects the positions of
// winners that replace a stored row in `replaced`, and counts.
Status PlanMerge(const delta::Table& table, const delta::Snapshot& snapshot, IncomingIndex& index,
                 const DeletedIds* deleted, ThreadBudget* budget, std::vector<FilePlan>& plans, TableResult& result,
                 std::vector<std::string>& deleted_ids, std::unordered_set<uint64_t>& replaced) {
  KeyFilter wanted(index.winners.size() + (deleted ? deleted->size() : 0));
  for (const Incoming& in : index.winners) wanted.Add(in.key.a);
  if (deleted) {
    for (const IdKey& key : *deleted) wanted.Add(key.a);
  }
  const size_t n = snapshot.files.size();
  std::vector<FileFindings> found(n);
  std::vector<Status> status(n);
  std::atomic<int> readers_left{kKeptReaders};
  // The biggest files first: a big one started last would keep one thread busy alone.
  std::vector<uint64_t> sizes(n);
  for (size_t f = 0; f < n; ++f) sizes[f] = static_cast<uint64_t>(std::max<int64_t>(snapshot.files[f].size, 0));
  const std::vector<size_t> order = parquet::CostliestFirst(sizes);
  ForEachIndex(n, budget, [&](size_t k) {
    const size_t f = order[k];
    status[f] = PlanFile(table, snapshot.files[f], index, wanted, deleted, readers_left, found[f]);
  });
  for (size_t f = 0; f < n; ++f) {
    FHIRLAKE_RETURN_IF_ERROR(status[f]);
    index.skip.insert(found[f].stale.begin(), found[f].stale.end());
    replaced.insert(found[f].replaced.begin(), found[f].replaced.end());
    result.deleted += found[f].deleted_ids.size();
    std::move(found[f].deleted_ids.begin(), found[f].deleted_ids.end(), std::back_inserter(deleted_ids));
    if (found[f].plan) plans.push_back(std::move(*found[f].plan));
  }
  for (uint64_t p : replaced) result.updated += index.skip.count(p) ? 0 : 1;
  return Status::Ok();
}

// Passes the rows of `plan.file` that it does not drop to `rows` (as lines of file index
// `file`), to be copied into the new data files by re-shredding `_json`; counts them in `kept`.
Status CopyKeptRows(const delta::Table& table, const FilePlan& plan, size_t file, ParallelRows& rows, uint64_t& kept) {
  PaddedLine padded;
  auto source = delta::OpenObjectSource(table.store(), table.Key(plan.file->path));
  return ForEachStoredRow(std::move(source), plan.AllGone(), [&](std::string_view line, std::optional<int64_t> time) {
    // The stored time places the row (recent or older) without parsing the line for it.
    FHIRLAKE_RETURN_IF_ERROR(rows.Add(padded.Of(line), file, kept, time.value_or(kNoTime)));
    ++kept;
    return Status::Ok();
  });
}

// What stays the same across the attempts of one table's load.
struct TableLoad {
  const LoadOptions& o;
  const std::string& type;
  const std::vector<fs::path>& files;
  const DeletedIds* deleted;             // ids deleted/ names for this type; may be null
  const std::string& transaction_time;
  const delta::Table& table;
  fs::path root;                         // table.root(): a path, or an s3:// location
  std::optional<parquet::Schema> schema = {};  // set by PlanTable
  std::string schema_string = {};
  IncomingIndex index = {};              // merge and overwrite: the batch's winners
  std::unordered_set<uint64_t> refused = {};  // winners the shredder refused, left out of `index`
  ThreadBudget* budget = nullptr;        // where helper threads for the incoming rows come from
  // The writers' options: o.writer with the row-group size shared by the `jobs` writers that
  // may run at once (each buffers one row group), so memory stays bounded by o.writer's.
  parquet::WriterOptions writer = {};
};

parquet::WriterOptions WithParallel(parquet::WriterOptions options, parquet::ParallelFor* parallel) {
  options.parallel = parallel;
  return options;
}

// One attempt at a table's commit: the files it wrote (data files, a deletion-vector file)
// and its error log are removed when it is dropped without Keep().
class LoadAttempt : public PreparedCommit {
 public:
  LoadAttempt(const TableLoad& load, const RecencyLayout& layout)
      : writer(WithParallel(load.writer, load.budget && load.o.jobs > 1 ? &work : nullptr)),
        out(load.table, *load.schema, writer, layout),
        layout(layout),
        errors(load.table.store(), load.type),
        warehouse_(load.o.warehouse_store) {
    result.type = load.type;
  }
  ~LoadAttempt() override {
    if (kept_) return;
    // Best effort on a path that already failed: a file left behind is one no commit names,
    // which vacuum deletes after the retention.
    if (!dv_key.empty()) (void)warehouse_->Delete(dv_key);
    if (tombstones) RemovePendingTombstones(*warehouse_, *tombstones);
    errors.Discard();
  }
  void Keep() override {
    kept_ = true;
    out.Keep();
    for (auto& files : helper_out) files->Keep();
  }

  SharedWork work;                 // the threads writing this attempt's rows encode row groups here
  parquet::WriterOptions writer;   // the load's, with `work` when helpers may run
  LayoutFiles out;
  RecencyLayout layout;                                 // out's, for the helpers' files
  std::vector<std::unique_ptr<LayoutFiles>> helper_out;  // files written by helper threads
  ErrorLog errors;
  std::string dv_key;  // the deletion-vector file written, a key of the warehouse's store
  TableResult result;
  uint64_t kept_rows = 0, incoming_rows = 0;
  std::vector<uint64_t> refused;  // positions of the incoming lines the shredder refused
  std::unordered_set<uint64_t> replaced;  // positions of winners that replace a stored row
  std::vector<std::string> deleted_ids;  // the ids this merge deletes
  // Their tombstone file, written before the commit that names it (see tombstones.h).
  std::optional<PendingTombstones> tombstones;

 private:
  std::shared_ptr<store::ObjectStore> warehouse_;
  bool kept_ = false;
};

// Plan, part 1: whether the table is to be written at all. A result when it is not (this
// load's txn is in the log, mode ignore, or nothing to write); an error for mode error on an
// existing table; nullopt to go on.
Result<std::optional<TableResult>> SkipOrRefuse(const TableLoad& load, const delta::Snapshot& snapshot) {
  const LoadOptions& o = load.o;
  TableResult result;
  result.type = load.type;
  if (o.txn) {
    auto it = snapshot.app_versions.find(o.txn->first);
    if (it != snapshot.app_versions.end() && it->second >= o.txn->second) {
      result.skipped = result.already_committed = true;
      result.version = snapshot.version;
      return std::optional<TableResult>(result);
    }
  }
  if (snapshot.version >= 0 && o.mode == SaveMode::kIgnore) {
    result.skipped = true;
    return std::optional<TableResult>(result);
  }
  if (snapshot.version >= 0 && o.mode == SaveMode::kError) {
    return InvalidArgument("table " + load.root.string() + " exists and the save mode is 'error'");
  }
  const bool emptied = o.mode == SaveMode::kOverwrite && o.overwrite_missing_types;
  if (load.files.empty() && (snapshot.version < 0 || (o.mode != SaveMode::kMerge && !emptied))) {
    result.skipped = true;  // only deletions, and nothing to delete them from
    result.version = snapshot.version;
    return std::optional<TableResult>(result);
  }
  return std::optional<TableResult>();
}

// Plan, part 2: the table's schema and directory, and the batch's winners (duplicates within
// the batch keep the latest meta.lastUpdated; append keeps every line).
Status PlanTable(TableLoad& load, const delta::Snapshot& snapshot) {
  TableSchemaOptions schema_options = load.o.schema;  // a table with text decimals keeps them until overwritten
  schema_options.decimals_as_text |= load.o.mode != SaveMode::kOverwrite && HasTextDecimals(snapshot.schema_string);
  load.schema.emplace(BuildTableSchema(load.type, schema_options));
  load.schema_string = delta::SparkSchemaJson(*load.schema);
  if (load.o.mode != SaveMode::kAppend) {
    auto indexed = IndexIncoming(load.type, load.files, load.o.max_line_bytes, load.refused);
    if (!indexed.ok()) return indexed.status();
    load.index = std::move(indexed.value());
  }
  return Status::Ok();
}

// Plan, part 3: which rows of the attempt go to small recent files (see recency_layout.h). A
// merge into a table with big files keeps rows older than those files' newest in big files;
// any other write splits its own rows by meta.lastUpdated.
RecencyLayout PlanLayout(const TableLoad& load, const delta::Snapshot& snapshot) {
  const RecencyLayoutOptions options{load.o.target_file_bytes, load.o.recent_file_bytes, load.o.recent_fraction};
  if (load.o.mode != SaveMode::kOverwrite) {
    if (auto merge = LayoutForMerge(snapshot.files, options)) return *merge;
  }
  std::vector<int64_t> times;
  times.reserve(load.index.winners.size());
  for (const Incoming& in : load.index.winners) {
    if (in.last_updated != kNoTime) times.push_back(in.last_updated);
  }
  return LayoutForFullWrite(std::move(times), InputBytes(load.files), options);
}

// Write, part 1: the rows a merge drops. With deletion vectors, a touched file stays and gets
// a vector of its gone rows (or is removed when no row is left); without, the file is removed
// and its remaining rows are copied into the new data files (by WriteRows).
Status DropRows(const TableLoad& load, const std::vector<FilePlan>& plans, bool use_dvs, LoadAttempt& a) {
  std::vector<delta::AddFile> dv_adds, dv_removes;
  std::vector<std::vector<uint64_t>> dv_rows;
  for (const FilePlan& plan : plans) {
    if (use_dvs) {
      dv_removes.push_back(*plan.file);
      auto gone = plan.AllGone();
      if (gone.size() < plan.physical_rows) {
        dv_adds.push_back(*plan.file);
        dv_rows.push_back(std::move(gone));
      }
      continue;
    }
    a.commit.removes.push_back(*plan.file);
  }
  if (!dv_rows.empty()) {
    auto dvs = delta::WriteDeletionVectors(load.table.store(), load.table.key(), dv_rows);
    if (!dvs.ok()) return dvs.status();
    a.dv_key = load.table.Key(delta::DeletionVectorRelativePath((*dvs)[0]));
    for (size_t i = 0; i < dv_adds.size(); ++i) {
      dv_adds[i].deletion_vector = (*dvs)[i];
      dv_adds[i].modification_time = NowMillis();
    }
  }
  if (use_dvs) {
    a.commit.removes = std::move(dv_removes);
    a.commit.adds = std::move(dv_adds);
    a.commit.enable_deletion_vectors = !a.commit.adds.empty();
  }
  return Status::Ok();
}

// The kept rows of a rewritten file that are copied a column at a time (parquet::CopyRows):
// files with the table's columns whose rows all belong in one tier (LayoutFiles::TierOf).
// Other files' kept rows are re-shredded from `_json` (CopyKeptRows).
struct ColumnCopy {
  const FilePlan* plan;
  std::shared_ptr<parquet::FileReader> reader;
  bool recent;
};

// The column copy of `plan`'s kept rows into `out`, or nullopt when they are to be re-shredded.
Result<std::optional<ColumnCopy>> PlanColumnCopy(const TableLoad& load, const FilePlan& plan, const LayoutFiles& out) {
  const std::optional<bool> recent = out.TierOf(*plan.file);
  if (!recent) return std::optional<ColumnCopy>();
  std::shared_ptr<parquet::FileReader> reader = plan.reader;
  if (!reader) {
    auto opened = parquet::FileReader::Open(delta::OpenObjectSource(load.table.store(), load.table.Key(plan.file->path)));
    if (!opened.ok()) return opened.status();
    reader = std::move(opened.value());
  }
  if (!parquet::SameColumns(*reader, *load.schema)) return std::optional<ColumnCopy>();
  return std::optional<ColumnCopy>(ColumnCopy{&plan, std::move(reader), *recent});
}

// Copies the rows `copy.plan` keeps into `out`, row group by row group; counts them in `kept`.
// `stop` is polled between row groups.
Status CopyKeptColumns(ColumnCopy& copy, LayoutFiles& out, uint64_t& kept, const std::atomic<bool>& stop) {
  return ForEachRowGroupKeeping(*copy.reader, copy.plan->AllGone(), [&](size_t g, const std::vector<uint8_t>& keep) {
    if (stop) return Cancelled("cancelled");
    Status s = out.Copy(copy.recent, *copy.reader, g, keep, kept);
    return s.ok() ? s : s.WithContext("cannot copy the rows of " + copy.plan->file->path);
  });
}

// The column copies of a merge: on a thread of its own, into files of its own, when the files
// to copy hold `thread_bytes` or more and the budget has a place free (while the caller writes
// the incoming rows; both post their column work to `work`, see SharedWork); else at once on
// the caller's thread, into the caller's files (so a small merge's kept and incoming rows share
// a file: a thread and a file of their own would not pay).
class KeptColumnCopier {
 public:
  // `own_files` makes the copier's files when it runs on a thread.
  KeptColumnCopier(std::vector<ColumnCopy> copies, LayoutFiles& caller_files,
                   const std::function<std::unique_ptr<LayoutFiles>()>& own_files, uint64_t thread_bytes,
                   ThreadBudget* budget, SharedWork* work)
      : copies_(std::move(copies)) {
    if (copies_.empty()) return;
    uint64_t bytes = 0;
    for (const ColumnCopy& copy : copies_) bytes += static_cast<uint64_t>(copy.plan->file->size);
    if (bytes < thread_bytes || !budget || !work || !budget->TryAcquire()) {
      status_ = Run(caller_files);
      return;
    }
    own_ = own_files();
    work->Join();  // before the caller could help and find nobody there
    thread_ = std::thread([this, budget, work] {
      status_ = Run(*own_);
      if (status_.ok()) status_ = own_->Close();
      work->Leave();
      budget->Release();
    });
  }
  ~KeptColumnCopier() {
    stop_ = true;  // the caller failed before it waited: the copies end at their next row group
    (void)Wait();
  }

  // Waits for the copies and returns their status.
  Status Wait() {
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  uint64_t rows() const { return rows_; }
  // The files of the copier's own (null when it ran on the caller's); taken by the attempt,
  // which commits or removes them.
  std::unique_ptr<LayoutFiles> TakeFiles() { return std::move(own_); }

 private:
  Status Run(LayoutFiles& out) {
    for (ColumnCopy& copy : copies_) FHIRLAKE_RETURN_IF_ERROR(CopyKeptColumns(copy, out, rows_, stop_));
    return Status::Ok();
  }

  std::vector<ColumnCopy> copies_;
  std::unique_ptr<LayoutFiles> own_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  Status status_;
  uint64_t rows_ = 0;
};

// Write, part 2: the rows of the new data files. The kept rows of the files a copy-on-write
// merge rewrites (`rewritten`) are copied column by column (KeptColumnCopier), or, from files
// the copy does not apply to, re-shredded through the one ParallelRows (helper threads when the
// budget has places free) that then writes the incoming lines that won; refused lines go to the
// error log.
Status WriteRows(const TableLoad& load, const IncomingIndex& index, const std::vector<FilePlan>& rewritten,
                 LoadAttempt& a) {
  // Kept rows are lines of file indexes after the incoming files'. One of them refused means a
  // stored row that no longer parses: the merge fails rather than lose it.
  const size_t first_kept = load.files.size();
  Status damaged;
  auto new_files = [&] { return std::make_unique<LayoutFiles>(load.table, *load.schema, a.writer, a.layout); };
  ParallelRows rows(
      load.type, a.out,
      new_files, a.helper_out, load.budget, load.o.write_batch_bytes, a.writer.parallel ? &a.work : nullptr,
      [&](size_t file, uint64_t number, const std::string& why) {
        if (file >= first_kept) {
          const std::string& path = rewritten[file - first_kept].file->path;
          if (damaged.ok()) damaged = DataLoss("a stored row of " + path + " no longer parses: " + why);
          return;
        }
        a.errors.Add(load.files[file], number, why);
        a.refused.push_back(PositionOf(file, number));
      });
  std::vector<ColumnCopy> copies;
  std::vector<size_t> reshred;  // indexes into `rewritten`
  for (size_t p = 0; p < rewritten.size(); ++p) {
    auto copy = PlanColumnCopy(load, rewritten[p], a.out);
    if (!copy.ok()) return copy.status();
    if (*copy) {
      copies.push_back(std::move(**copy));
    } else {
      reshred.push_back(p);
    }
  }
  KeptColumnCopier copier(std::move(copies), a.out, new_files, load.o.copy_thread_bytes, load.budget,
                          a.writer.parallel ? &a.work : nullptr);
  uint64_t reshredded = 0;  // kept rows passed to `rows`
  for (size_t p : reshred) FHIRLAKE_RETURN_IF_ERROR(CopyKeptRows(load.table, rewritten[p], first_kept + p, rows, reshredded));
  // Lines are read in position order, as index.times is sorted: one cursor finds each time.
  // Append has no index; then the layout reads the times itself.
  const bool indexed = load.o.mode != SaveMode::kAppend;
  size_t next_time = 0;
  for (size_t f = 0; f < load.files.size(); ++f) {
    FHIRLAKE_RETURN_IF_ERROR(ForEachLine(
        load.files[f], load.o.max_line_bytes,
        [&](std::string_view line, uint64_t number) {
          const uint64_t position = PositionOf(f, number);
          if (index.skip.count(position)) return Status::Ok();
          if (!indexed) return rows.Add(line, f, number);
          while (next_time < index.times.size() && index.times[next_time].first < position) ++next_time;
          // A line the first pass did not take as a resource of the type is refused by the
          // shredder; its tier does not matter.
          const bool known = next_time < index.times.size() && index.times[next_time].first == position;
          return rows.Add(line, f, number, known ? index.times[next_time].second : kNoTime);
        },
        [&](uint64_t number, const std::string& why) { rows.Refuse(f, number, why); }));
  }
  FHIRLAKE_RETURN_IF_ERROR(rows.Finish());  // closes a.out too
  FHIRLAKE_RETURN_IF_ERROR(copier.Wait());
  if (auto files = copier.TakeFiles()) a.helper_out.push_back(std::move(files));
  FHIRLAKE_RETURN_IF_ERROR(damaged);
  a.kept_rows += copier.rows() + reshredded;
  a.incoming_rows += rows.rows() - reshredded;
  return Status::Ok();
}

// Write, part 3: the small files the threads ended with, joined (LayoutFiles::JoinSmallFiles),
// their column chunks copied and encoded on the places free in the load's budget, as the rows
// were written.
Status JoinSmallFiles(const TableLoad& load, LoadAttempt& a) {
  if (load.o.small_file_bytes == 0 || a.helper_out.empty()) return Status::Ok();
  std::vector<LayoutFiles*> parts{&a.out};
  for (auto& files : a.helper_out) parts.push_back(files.get());
  auto joined = std::make_unique<LayoutFiles>(load.table, *load.schema, a.writer, a.layout);
  int places = 0;
  while (a.writer.parallel && places + 1 < load.o.jobs && load.budget->TryAcquire()) ++places;
  Status s;
  {
    std::optional<SharedWorkHelpers> helpers;
    if (places > 0) helpers.emplace(a.work, places);
    s = LayoutFiles::JoinSmallFiles(parts, load.o.small_file_bytes, *joined);
  }
  for (int p = 0; p < places; ++p) load.budget->Release();
  FHIRLAKE_RETURN_IF_ERROR(s);
  a.helper_out.push_back(std::move(joined));
  return Status::Ok();
}

// Commit: the actions and commitInfo for what the attempt wrote.
void BuildCommit(const TableLoad& load, const delta::Snapshot& snapshot, LoadAttempt& a) {
  const LoadOptions& o = load.o;
  TableResult& r = a.result;
  r.rows = a.incoming_rows;
  r.bad_lines = a.errors.count();
  r.inserted = o.mode == SaveMode::kMerge ? a.incoming_rows - r.updated : a.incoming_rows;
  if (o.mode == SaveMode::kOverwrite) r.deleted = 0;

  delta::Commit& commit = a.commit;
  commit.operation = o.mode == SaveMode::kMerge ? "MERGE" : "WRITE";
  commit.operation_parameters_json = json{{"mode", ModeName(o.mode)}}.dump();
  commit.txn = o.txn;
  if (snapshot.version < 0 || snapshot.schema_string != load.schema_string) commit.schema_string = load.schema_string;
  std::vector<delta::AddFile> adds = a.out.Adds();
  for (const auto& files : a.helper_out) {
    std::vector<delta::AddFile> more = files->Adds();
    adds.insert(adds.end(), more.begin(), more.end());
  }
  if (o.deletion_vectors || snapshot.deletion_vectors_enabled()) {  // PROTOCOL.md: tightBounds once DVs apply
    for (auto& add : adds) add.stats_json = WithTightBounds(add.stats_json, true);
    for (auto& add : commit.adds) add.stats_json = WithTightBounds(add.stats_json, false);
  }
  adds.insert(adds.end(), commit.adds.begin(), commit.adds.end());  // new files first, then re-added ones
  commit.adds = std::move(adds);
  if (o.mode == SaveMode::kOverwrite) commit.removes = snapshot.files;
  json info =
      json{{"transactionTime", load.transaction_time}, {"numOutputRows", a.incoming_rows},
           {"numCopiedRows", a.kept_rows}, {"numTargetRowsInserted", r.inserted},
           {"numTargetRowsUpdated", r.updated}, {"numTargetRowsDeleted", r.deleted}, {"badLines", r.bad_lines},
           {"source", fs::absolute(o.export_dir).string()}};
  if (a.tombstones) info["tombstones"] = json::parse(a.tombstones->CommitInfoJson());
  commit.commit_info_extra_json = info.dump();
}

// One attempt against `snapshot`: plan the merge, write the data files, build the commit.
Result<std::unique_ptr<LoadAttempt>> WriteAttempt(const TableLoad& load, const delta::Snapshot& snapshot) {
  const LoadOptions& o = load.o;
  auto a = std::make_unique<LoadAttempt>(load, PlanLayout(load, snapshot));
  IncomingIndex index = load.index;
  std::vector<FilePlan> plans;
  if (o.mode == SaveMode::kMerge) {
    FHIRLAKE_RETURN_IF_ERROR(
        PlanMerge(load.table, snapshot, index, load.deleted, load.budget, plans, a->result, a->deleted_ids, a->replaced));
  }
  // Written ahead of the data commit, which names the file (load/tombstones.h).
  if (!a->deleted_ids.empty()) {
    auto pending = WriteTombstoneFile(
        o.warehouse_store, TombstoneBatch{load.type, snapshot.version + 1, load.transaction_time, a->deleted_ids});
    if (!pending.ok()) return pending.status();
    a->tombstones = std::move(pending.value());
  }
  const bool use_dvs = o.deletion_vectors || snapshot.deletion_vectors_enabled();
  FHIRLAKE_RETURN_IF_ERROR(DropRows(load, plans, use_dvs, *a));
  static const std::vector<FilePlan> kNothingToCopy;
  FHIRLAKE_RETURN_IF_ERROR(WriteRows(load, index, use_dvs ? kNothingToCopy : plans, *a));
  FHIRLAKE_RETURN_IF_ERROR(JoinSmallFiles(load, *a));
  BuildCommit(load, snapshot, *a);
  return a;
}

// The refused lines (of `a.refused`) that stood for their id in place of something: a stored
// row the merge dropped for them, or another line of the id in the batch.
std::vector<uint64_t> RefusedInPlaceOfOthers(const IncomingIndex& index, const LoadAttempt& a) {
  std::vector<uint64_t> out;
  for (uint64_t position : a.refused) {
    if (a.replaced.count(position) || index.contested.count(position)) out.push_back(position);
  }
  return out;
}

// WriteAttempt until no refused line stood in place of another. The first pass reads only each
// line's identity; a line the shredder then refuses must not stand for its id, or the merge
// would drop the stored row it replaces (and the batch the earlier line it beat) with nothing
// in their place. Such lines are taken out of the index and the attempt is written again (only
// bad input that is also an update or a duplicate pays for this).
// First, SkipOrRefuse again: a retry's snapshot may hold this load's own txn, the same load's
// commit from an earlier run that landed after this run read the table (a killed run's last
// request, say). Then the attempt writes nothing and the table counts as loaded before.
Result<std::unique_ptr<LoadAttempt>> PrepareAttempt(TableLoad& load, const delta::Snapshot& snapshot) {
  auto skipped = SkipOrRefuse(load, snapshot);
  if (!skipped.ok()) return skipped.status();
  if (*skipped) {
    auto a = std::make_unique<LoadAttempt>(load, PlanLayout(load, snapshot));
    a->result = **skipped;
    return a;
  }
  // A merge or an append keeps the table's columns: a schema without some of them (a smaller
  // --max-depth, columns another engine added) would drop them, and their data with them.
  if (snapshot.version >= 0 && load.o.mode != SaveMode::kOverwrite && snapshot.schema_string != load.schema_string) {
    const std::vector<std::string> missing = ColumnsMissingFrom(snapshot.schema_string, load.schema_string);
    if (!missing.empty()) {
      std::string named;
      for (size_t i = 0; i < missing.size() && i < 5; ++i) named += (i ? ", " : "") + missing[i];
      if (missing.size() > 5) named += " and " + std::to_string(missing.size() - 5) + " more";
      return InvalidArgument(load.root.string() + " has columns this load's schema lacks (" + named +
                             "), which it would drop; load with the --max-depth the table was written with, "
                             "or replace the table with --mode overwrite");
    }
  }
  for (;;) {
    auto a = WriteAttempt(load, snapshot);
    if (!a.ok() || load.o.mode == SaveMode::kAppend) return a;
    const std::vector<uint64_t> refused = RefusedInPlaceOfOthers(load.index, **a);
    if (refused.empty()) return a;
    load.refused.insert(refused.begin(), refused.end());
    auto indexed = IndexIncoming(load.type, load.files, load.o.max_line_bytes, load.refused);
    if (!indexed.ok()) return indexed.status();
    load.index = std::move(indexed.value());
  }
}

// One type's table: plan (skip? schema, winners), then attempts of write + commit until one
// commits or fails for a reason other than a lost race.
Result<TableResult> LoadTable(const LoadOptions& o, const std::string& type, const std::vector<fs::path>& files,
                             const DeletedIds* deleted, const std::string& transaction_time, ThreadBudget* budget,
                             LoadSummary& summary) {
  const std::shared_ptr<void> held = o.hold_table ? o.hold_table(type) : nullptr;
  const delta::Table table(o.warehouse_store, store::WarehouseLayout::Table(type));
  TableLoad load{o, type, files, deleted, transaction_time, table, table.root()};
  load.budget = budget;
  load.writer = o.writer;
  load.writer.row_group_bytes = std::max(o.writer.row_group_bytes / static_cast<size_t>(std::max(1, o.jobs)),
                                         std::min<size_t>(o.writer.row_group_bytes, 1u << 20));
  auto snapshot = table.Load();
  if (!snapshot.ok()) return snapshot.status();
  auto skipped = SkipOrRefuse(load, *snapshot);
  if (!skipped.ok()) return skipped.status();
  if (*skipped) return **skipped;
  FHIRLAKE_RETURN_IF_ERROR(PlanTable(load, *snapshot));

  CommitRetryOptions retry;
  retry.attempts = o.commit_attempts;
  retry.before_write = [](int attempt) {
    store::CrashPoint("before-commit");
    if (attempt == 1) MaybeWaitAtGate();
  };
  retry.after_write = [] { store::CrashPoint("after-commit"); };
  retry.check_new_snapshot = [&](const delta::Snapshot& s) {
    if (o.mode == SaveMode::kError && s.version >= 0) {
      return InvalidArgument("table " + load.root.string() + " was created meanwhile and the save mode is 'error'");
    }
    return Status::Ok();
  };
  auto committed = CommitWithRetries<LoadAttempt>(
      table, std::move(snapshot.value()), retry,
      [&](const delta::Snapshot& s) { return PrepareAttempt(load, s); });
  if (!committed.ok()) return committed.status();
  LoadAttempt& a = **committed;
  a.result.version = a.version;
  Status published = a.errors.Publish();
  if (!published.ok()) return published.WithContext("version " + std::to_string(a.version) + " was committed, but");
  if (a.errors.count()) summary.error_files.push_back(a.errors.location());
  summary.bad_lines += a.result.bad_lines;
  return a.result;
}

// LoadTable, then the tombstones its commit named (and any an earlier, interrupted load left
// pending) appended to the tombstone table. Skipped tables are recovered too: a rerun after a
// crash that followed the data commit finds its txn and skips the table.
Result<TableResult> LoadType(const LoadOptions& o, const std::string& type, const std::vector<fs::path>& files,
                             const DeletedIds* deleted, const std::string& transaction_time, ThreadBudget* budget,
                             LoadSummary& summary) {
  auto result = LoadTable(o, type, files, deleted, transaction_time, budget, summary);
  if (!result.ok()) return result;
  FHIRLAKE_RETURN_IF_ERROR(CommitPendingTombstones(o.warehouse_store, type));
  return result;
}

}  // namespace

int DefaultJobs() { return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u)); }

Result<SaveMode> ParseSaveMode(std::string_view text) {
  for (SaveMode m : {SaveMode::kMerge, SaveMode::kOverwrite, SaveMode::kAppend, SaveMode::kIgnore, SaveMode::kError}) {
    if (text == ModeName(m)) return m;
  }
  return InvalidArgument("unknown save mode '" + std::string(text) + "' (merge, overwrite, append, ignore, error)");
}

Result<LoadSummary> Load(const LoadOptions& options) {
  LoadOptions o = options;
  if (!o.warehouse_store) {
    auto opened = store::OpenStore(o.warehouse.string());
    if (!opened.ok()) return opened.status();
    o.warehouse_store = std::move(opened.value());
  }
  if (!fs::is_directory(o.export_dir)) return InvalidArgument(o.export_dir.string() + " is not a directory");
  LoadSummary summary;
  std::map<std::string, std::vector<fs::path>> by_type;
  for (auto& file : fhir::ListResourceFiles(o.export_dir)) by_type[fhir::ResourceTypeOfFile(file)].push_back(std::move(file));
  std::map<std::string, DeletedIds> deleted;
  if (o.mode == SaveMode::kMerge) {
    auto d = ReadDeleted(o, summary);
    if (!d.ok()) return d.status();
    deleted = std::move(d.value());
    for (const auto& [type, ids] : deleted) by_type[type];  // a type with only deletions is still merged
  }
  if (!o.types.empty()) {
    for (auto it = by_type.begin(); it != by_type.end();) {
      it = std::find(o.types.begin(), o.types.end(), it->first) == o.types.end() ? by_type.erase(it) : std::next(it);
    }
  }
  if (o.mode == SaveMode::kOverwrite && o.overwrite_missing_types) {
    auto tables = store::ListWarehouseTables(*o.warehouse_store);
    if (!tables.ok()) return tables.status();
    for (const std::string& name : *tables) {
      if (fhir::IsResourceTypeName(name) && (o.types.empty() || std::find(o.types.begin(), o.types.end(), name) != o.types.end())) {
        by_type[name];  // no file: the table is overwritten with no rows
      }
    }
  }
  const std::string transaction_time = TransactionTime(o.export_dir);

  // Types load in parallel, each into its own table, the largest first (so the last to finish
  // is a small one); a thread that finds no type left gives its place to the helpers of the
  // types still being written. Results keep the order of the types.
  std::vector<const std::pair<const std::string, std::vector<fs::path>>*> work;
  for (const auto& entry : by_type) work.push_back(&entry);
  std::vector<std::pair<uintmax_t, size_t>> by_size;  // (input bytes, index in work)
  for (size_t i = 0; i < work.size(); ++i) by_size.emplace_back(InputBytes(work[i]->second), i);
  std::stable_sort(by_size.begin(), by_size.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  std::vector<Result<TableResult>> results(work.size(), Result<TableResult>(InternalError("not run")));
  std::vector<LoadSummary> partial(work.size());
  const size_t threads = std::min<size_t>(std::max(1, o.jobs), std::max<size_t>(work.size(), 1));
  ThreadBudget budget(std::max(1, o.jobs) - static_cast<int>(threads));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k = next++; k < work.size(); k = next++) {
      const size_t i = by_size[k].second;
      const auto& [type, files] = *work[i];
      auto d = deleted.find(type);
      results[i] = LoadType(o, type, files, d == deleted.end() ? nullptr : &d->second, transaction_time, &budget,
                            partial[i]);
    }
    budget.Release();
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  for (size_t i = 0; i < work.size(); ++i) {
    if (!results[i].ok()) return results[i].status().WithContext(work[i]->first);
    summary.bad_lines += partial[i].bad_lines;
    summary.error_files.insert(summary.error_files.end(), partial[i].error_files.begin(), partial[i].error_files.end());
    summary.tables.push_back(std::move(results[i].value()));
  }
  return summary;
}

}  // namespace fhirlake::load
