#include "fhirlake/load/loader.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/ndjson_files.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/fhir/operation_outcome.h"
#include "fhirlake/load/file_stats.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/stored_rows.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/store/crash_point.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"

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
  json m = json::parse(*text, nullptr, false);
  return m.is_object() ? m.value("transactionTime", "") : "";
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
  ErrorLog(const fs::path& warehouse, const std::string& type) : warehouse_(warehouse), type_(type) {}
  void Add(const fs::path& file, uint64_t line, const std::string& why) {
    if (!out_.is_open()) {
      std::error_code ec;
      fs::create_directories(warehouse_ / "_errors", ec);
      path_ = warehouse_ / "_errors" /
              (type_ + "." + std::to_string(fhir::NowMicros()) + "." + store::RandomHex(4) + ".ndjson");
      out_.open(path_, std::ios::binary);
    }
    std::string text = file.filename().string() + " line " + std::to_string(line) + ": " + why;
    out_ << fhir::OperationOutcome::Error("invalid", text).ToJson() << '\n';
    ++count_;
  }
  uint64_t count() const { return count_; }
  const fs::path& path() const { return path_; }
  // Forgets what was logged (an attempt that is retried logs again).
  void Discard() {
    if (!out_.is_open()) return;
    out_.close();
    std::error_code ec;
    fs::remove(path_, ec);
  }

 private:
  fs::path warehouse_;
  std::string type_;
  std::ofstream out_;
  fs::path path_;
  uint64_t count_ = 0;
};

// Calls `fn(line, line_number)` for each non-empty line of `file`. Over-long lines go to
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
    if (!line.empty()) FHIRLAKE_RETURN_IF_ERROR(fn(line, reader->line_number()));
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
IdKey KeyOf(std::string_view id) {
  uint64_t fnv = 1469598103934665603ull;
  for (unsigned char c : id) fnv = (fnv ^ c) * 1099511628211ull;
  return {std::hash<std::string_view>{}(id), fnv};
}
struct IdKeyHash {
  size_t operator()(const IdKey& k) const { return k.a ^ (k.b * 0x9E3779B97F4A7C15ull); }
};

using DeletedIds = std::unordered_set<IdKey, IdKeyHash>;

// Where a line is: file number in the type's list and 1-based line number.
uint64_t PositionOf(size_t file, uint64_t line) { return (static_cast<uint64_t>(file) << 40) | line; }

// One valid incoming resource, as the first pass sees it.
struct Incoming {
  IdKey key;
  int64_t last_updated;
  uint64_t position;
};

// The winners of an incoming batch (one per id: the latest meta.lastUpdated, the later line on
// ties) and the positions of every line that must not be written.
struct IncomingIndex {
  std::unordered_map<IdKey, Incoming, IdKeyHash> winners;
  std::unordered_set<uint64_t> skip;      // positions of lines that lost
  const Incoming* Find(const IdKey& key) const {
    auto it = winners.find(key);
    return it == winners.end() ? nullptr : &it->second;
  }
};

// First pass over the incoming files: which lines are valid resources of `type` (the same
// checks the shredder makes, with a full parse), their ids and meta.lastUpdated.
Result<IncomingIndex> IndexIncoming(const std::string& type, const std::vector<fs::path>& files, size_t max_line_bytes) {
  simdjson::dom::parser parser;
  std::vector<Incoming> all;
  for (size_t f = 0; f < files.size(); ++f) {
    Status s = ForEachLine(
        files[f], max_line_bytes,
        [&](std::string_view line, uint64_t number) {
          simdjson::dom::element doc;
          if (parser.parse(line.data(), line.size(), false).get(doc)) return Status::Ok();
          std::string_view rt, id, lu;
          if (doc["resourceType"].get(rt) || rt != type || doc["id"].get(id)) return Status::Ok();
          int64_t t = kNoTime;
          if (!doc.at_pointer("/meta/lastUpdated").get(lu)) t = fhir::ParseFhirTime(lu).value_or(kNoTime);
          all.push_back({KeyOf(id), t, PositionOf(f, number)});
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
  for (size_t i = 0; i < all.size(); ++i) {
    if (i + 1 < all.size() && all[i + 1].key == all[i].key) {
      index.skip.insert(all[i].position);
    } else {
      index.winners.emplace(all[i].key, all[i]);
    }
  }
  return index;
}

// The ids that deleted/ Bundles name, by resource type. Entries look like
// {"request": {"method": "DELETE", "url": "Patient/123"}}.
Result<std::map<std::string, DeletedIds>> ReadDeleted(const LoadOptions& o, LoadSummary& summary) {
  std::map<std::string, DeletedIds> out;
  ErrorLog errors(o.warehouse, "deleted");
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
            while (!url.empty() && url.back() == '/') url.remove_suffix(1);
            size_t slash = url.rfind('/');
            size_t type_start = slash == std::string_view::npos || slash == 0 ? std::string_view::npos : url.rfind('/', slash - 1);
            if (slash == std::string_view::npos || slash + 1 == url.size()) {
              errors.Add(file, number, "request.url '" + std::string(url) + "' is not Type/id");
              continue;
            }
            std::string_view type_name = url.substr(type_start == std::string_view::npos ? 0 : type_start + 1,
                                                    slash - (type_start == std::string_view::npos ? 0 : type_start + 1));
            out[std::string(type_name)].insert(KeyOf(url.substr(slash + 1)));
          }
          return Status::Ok();
        },
        [&](uint64_t number, const std::string& why) { errors.Add(file, number, why); });
    FHIRLAKE_RETURN_IF_ERROR(s);
  }
  summary.bad_lines += errors.count();
  if (errors.count()) summary.error_files.push_back(errors.path());
  return out;
}

// What a merge does to one existing data file.
struct FilePlan {
  const delta::AddFile* file;
  std::vector<uint64_t> dropped;  // rows this merge drops, ascending
  std::vector<uint64_t> deleted;  // rows the file's deletion vector already drops, ascending
  uint64_t physical_rows = 0;

  // Every row that is gone after the merge, ascending.
  std::vector<uint64_t> AllGone() const {
    std::vector<uint64_t> all;
    std::merge(dropped.begin(), dropped.end(), deleted.begin(), deleted.end(), std::back_inserter(all));
    return all;
  }
};

// Compares the table's rows with the incoming winners and the deleted ids. Fills the plan of
// every file that loses rows, adds stale incoming lines to `index.skip`, and counts.
Status PlanMerge(const fs::path& root, const delta::Snapshot& snapshot, IncomingIndex& index,
                 const DeletedIds* deleted, std::vector<FilePlan>& plans, TableResult& result,
                 std::vector<std::string>& deleted_ids) {
  std::unordered_set<uint64_t> replaced;  // positions of winners that replace a stored row
  for (const delta::AddFile& add : snapshot.files) {
    auto reader = parquet::FileReader::Open(root / add.path);
    if (!reader.ok()) return reader.status();
    const int id_col = (*reader)->FindColumn("id"), time_col = (*reader)->FindColumn("meta.lastUpdated");
    if (id_col < 0) return DataLoss((root / add.path).string() + " has no id column");
    FilePlan plan{&add, {}, {}, static_cast<uint64_t>((*reader)->rows())};
    if (add.deletion_vector) {
      auto gone = delta::ReadDeletionVector(root, *add.deletion_vector);
      if (!gone.ok()) return gone.status().WithContext(add.path);
      plan.deleted = std::move(gone.value());
    }
    size_t next_gone = 0;
    uint64_t row = 0;
    for (size_t g = 0; g < (*reader)->row_group_count(); ++g) {
      auto ids = (*reader)->ReadColumn(g, id_col);
      if (!ids.ok()) return ids.status();
      parquet::ColumnValues times;
      if (time_col >= 0) {
        auto t = (*reader)->ReadColumn(g, time_col);
        if (!t.ok()) return t.status();
        times = std::move(t.value());
      }
      for (size_t i = 0; i < ids->size(); ++i, ++row) {
        if (next_gone < plan.deleted.size() && plan.deleted[next_gone] == row) {
          ++next_gone;  // deleted earlier
          continue;
        }
        if (!ids->present[i]) continue;
        const IdKey key = KeyOf(ids->string(i));
        const Incoming* in = index.Find(key);
        if (in) {
          int64_t stored = time_col >= 0 && times.present[i] ? times.ints[i] : kNoTime;
          if (stored != kNoTime && in->last_updated != kNoTime && stored > in->last_updated) {
            index.skip.insert(in->position);  // the table holds a later version
          } else {
            plan.dropped.push_back(row);
            replaced.insert(in->position);
          }
        } else if (deleted && deleted->count(key)) {
          plan.dropped.push_back(row);
          ++result.deleted;
          deleted_ids.emplace_back(ids->string(i));
        }
      }
    }
    if (!plan.dropped.empty()) plans.push_back(std::move(plan));
  }
  for (uint64_t p : replaced) result.updated += index.skip.count(p) ? 0 : 1;
  return Status::Ok();
}

// The data files one load writes into a table: rows go to the open file until it reaches the
// target size (checked as row groups are written), then the next one starts. Files are opened
// on the first row, so an empty load writes none. Files that do not get committed are removed
// with Discard().
class DataFiles {
 public:
  DataFiles(fs::path root, const parquet::Schema& schema, const LoadOptions& o)
      : root_(std::move(root)), schema_(schema), options_(o.writer), target_(o.target_file_bytes),
        json_leaf_(schema.leaves().size() - 1) {}
  ~DataFiles() = default;

  // Shreds `line` (padded) into a row. When the line is refused (see JsonShredder::ShredRow),
  // nothing is written and `*refused` says why.
  Status Add(std::string_view line, JsonShredder::RowInfo* check, Status* refused) {
    if (!writer_) FHIRLAKE_RETURN_IF_ERROR(Open());
    Status s = shredder_->ShredRow(line, check);
    if (!s.ok()) {
      *refused = std::move(s);
      return Status::Ok();
    }
    writer_->column(json_leaf_).AddBytes(0, line);
    FHIRLAKE_RETURN_IF_ERROR(writer_->EndRow());
    ++current_rows_;
    if (target_ > 0 && writer_->bytes_written() >= target_) return CloseCurrent();
    return Status::Ok();
  }

  // Finishes the open file; then Adds() describes every file written.
  Status Close() { return writer_ ? CloseCurrent() : Status::Ok(); }

  std::vector<delta::AddFile> Adds() const {
    std::vector<delta::AddFile> adds;
    for (size_t i = 0; i < done_.size(); ++i) {
      const auto& [name, rows] = done_[i];
      std::error_code ec;
      adds.push_back({name, static_cast<int64_t>(fs::file_size(root_ / name, ec)), NowMillis(),
                      static_cast<int64_t>(rows), stats_[i], std::nullopt});
    }
    return adds;
  }

  void Discard() {
    std::error_code ec;
    shredder_.reset();
    writer_.reset();
    if (!current_.empty()) fs::remove(root_ / current_, ec);
    for (const auto& [name, rows] : done_) fs::remove(root_ / name, ec);
    done_.clear();
    stats_.clear();
    current_.clear();
  }

 private:
  Status Open() {
    current_ = "part-" + store::RandomHex(16) + ".parquet";
    auto w = parquet::FileWriter::Open(root_ / current_, schema_, options_);
    if (!w.ok()) return w.status();
    writer_ = std::move(w.value());
    shredder_ = std::make_unique<JsonShredder>(schema_, *writer_, std::vector<std::string>{"_json"});
    current_rows_ = 0;
    return Status::Ok();
  }
  Status CloseCurrent() {
    shredder_.reset();
    Status s = writer_->Close();
    if (s.ok()) stats_.push_back(DeltaFileStats(schema_, *writer_));
    writer_.reset();
    if (!s.ok()) return s;
    done_.emplace_back(current_, current_rows_);
    current_.clear();
    return Status::Ok();
  }

  fs::path root_;
  const parquet::Schema& schema_;
  parquet::WriterOptions options_;
  uint64_t target_;
  size_t json_leaf_;
  std::unique_ptr<parquet::FileWriter> writer_;
  std::unique_ptr<JsonShredder> shredder_;
  std::string current_;
  uint64_t current_rows_ = 0;
  std::vector<std::pair<std::string, uint64_t>> done_;
  std::vector<std::string> stats_;  // add.stats of each of done_
};

// Copies the rows of `plan.file` that it does not drop into `out`, by re-shredding `_json`.
Status CopyKeptRows(const fs::path& root, const FilePlan& plan, DataFiles& out, uint64_t& rows) {
  std::string padded;
  return ForEachStoredJson(root / plan.file->path, plan.AllGone(), [&](std::string_view line) {
    padded.assign(line);
    padded.append(fhir::NdjsonReader::kPadding, '\0');
    Status refused;
    FHIRLAKE_RETURN_IF_ERROR(out.Add(std::string_view(padded.data(), line.size()), nullptr, &refused));
    if (!refused.ok()) return DataLoss("a stored row of " + plan.file->path + " no longer parses: " + refused.message());
    ++rows;
    return Status::Ok();
  });
}

Result<TableResult> LoadType(const LoadOptions& o, const std::string& type, const std::vector<fs::path>& files,
                             const DeletedIds* deleted, const std::string& transaction_time,
                             LoadSummary& summary) {
  TableResult result;
  result.type = type;
  const std::shared_ptr<void> held = o.hold_table ? o.hold_table(type) : nullptr;
  const fs::path root = o.warehouse / type;
  delta::Table table(root);
  auto snapshot = table.Load();
  if (!snapshot.ok()) return snapshot.status();
  if (o.txn) {
    auto it = snapshot->app_versions.find(o.txn->first);
    if (it != snapshot->app_versions.end() && it->second >= o.txn->second) {
      result.skipped = result.already_committed = true;
      result.version = snapshot->version;
      return result;
    }
  }
  if (snapshot->version >= 0 && o.mode == SaveMode::kIgnore) {
    result.skipped = true;
    return result;
  }
  if (snapshot->version >= 0 && o.mode == SaveMode::kError) {
    return InvalidArgument("table " + root.string() + " exists and the save mode is 'error'");
  }
  if (files.empty() && (o.mode != SaveMode::kMerge || snapshot->version < 0)) {
    result.skipped = true;  // only deletions, and nothing to delete them from
    result.version = snapshot->version;
    return result;
  }

  TableSchemaOptions schema_options = o.schema;  // a table with text decimals keeps them until overwritten
  schema_options.decimals_as_text |= o.mode != SaveMode::kOverwrite && HasTextDecimals(snapshot->schema_string);
  parquet::Schema schema = BuildTableSchema(type, schema_options);
  const std::string schema_string = delta::SparkSchemaJson(schema);
  std::error_code ec;
  fs::create_directories(root, ec);

  // Duplicates within the batch keep the latest meta.lastUpdated (append keeps every line).
  IncomingIndex index;
  if (o.mode != SaveMode::kAppend) {
    auto indexed = IndexIncoming(type, files, o.max_line_bytes);
    if (!indexed.ok()) return indexed.status();
    index = std::move(indexed.value());
  }

  for (int attempt = 1;; ++attempt) {
    TableResult r = result;
    std::vector<FilePlan> plans;
    IncomingIndex attempt_index = index;
    std::vector<std::string> deleted_ids;  // recorded in commitInfo: the table's tombstones
    if (o.mode == SaveMode::kMerge) {
      FHIRLAKE_RETURN_IF_ERROR(PlanMerge(root, *snapshot, attempt_index, deleted, plans, r, deleted_ids));
    }

    DataFiles out(root, schema, o);
    auto discard = [&] { out.Discard(); };  // never visible; do not leave them behind
    uint64_t kept = 0, incoming = 0;
    // With deletion vectors, a touched file stays and gets a vector of its gone rows (or is
    // removed when no row is left); without, its remaining rows are copied into the new file.
    const bool use_dvs = o.deletion_vectors || snapshot->deletion_vectors_enabled();
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
      Status s = CopyKeptRows(root, plan, out, kept);
      if (!s.ok()) {
        discard();
        return s;
      }
    }
    fs::path dv_file;
    if (!dv_rows.empty()) {
      auto dvs = delta::WriteDeletionVectors(root, dv_rows);
      if (!dvs.ok()) {
        discard();
        return dvs.status();
      }
      dv_file = delta::DeletionVectorFile(root, (*dvs)[0]);
      for (size_t i = 0; i < dv_adds.size(); ++i) {
        dv_adds[i].deletion_vector = (*dvs)[i];
        dv_adds[i].modification_time = NowMillis();
      }
    }
    auto discard_all = [&] {
      discard();
      if (!dv_file.empty()) fs::remove(dv_file, ec);
    };
    ErrorLog errors(o.warehouse, type);
    for (size_t f = 0; f < files.size(); ++f) {
      Status s = ForEachLine(
          files[f], o.max_line_bytes,
          [&](std::string_view line, uint64_t number) {
            if (attempt_index.skip.count(PositionOf(f, number))) return Status::Ok();
            JsonShredder::RowInfo info{type, ""};
            Status refused;
            FHIRLAKE_RETURN_IF_ERROR(out.Add(line, &info, &refused));
            if (!refused.ok()) {
              errors.Add(files[f], number, refused.message());
              return Status::Ok();
            }
            ++incoming;
            return Status::Ok();
          },
          [&](uint64_t number, const std::string& why) { errors.Add(files[f], number, why); });
      if (!s.ok()) {
        discard_all();
        return s;
      }
    }
    Status closed = out.Close();
    if (!closed.ok()) {
      discard_all();
      return closed;
    }
    r.rows = incoming;
    r.bad_lines = errors.count();
    r.inserted = o.mode == SaveMode::kMerge ? incoming - r.updated : incoming;
    if (o.mode == SaveMode::kOverwrite) r.deleted = 0;

    delta::Commit commit;
    commit.operation = o.mode == SaveMode::kMerge ? "MERGE" : "WRITE";
    commit.operation_parameters_json = json{{"mode", ModeName(o.mode)}}.dump();
    commit.txn = o.txn;
    if (snapshot->version < 0 || snapshot->schema_string != schema_string) commit.schema_string = schema_string;
    commit.adds = out.Adds();
    if (use_dvs) {  // PROTOCOL.md: tightBounds once deletion vectors apply
      for (auto& add : commit.adds) add.stats_json = WithTightBounds(add.stats_json, true);
      for (auto& add : dv_adds) add.stats_json = WithTightBounds(add.stats_json, false);
    }
    if (o.mode == SaveMode::kOverwrite) {
      commit.removes = snapshot->files;
    } else if (use_dvs) {
      commit.removes = dv_removes;
      commit.adds.insert(commit.adds.end(), dv_adds.begin(), dv_adds.end());
      commit.enable_deletion_vectors = !dv_adds.empty();
    } else {
      for (const FilePlan& plan : plans) commit.removes.push_back(*plan.file);
    }
    if (commit.adds.empty() && commit.removes.empty() && snapshot->version >= 0) {
      r.version = snapshot->version;  // nothing changed: no new version
      result = r;
      if (errors.count()) summary.error_files.push_back(errors.path());
      break;
    }
    commit.commit_info_extra_json =
        json{{"transactionTime", transaction_time}, {"numOutputRows", incoming}, {"numCopiedRows", kept},
             {"numTargetRowsInserted", r.inserted}, {"numTargetRowsUpdated", r.updated},
             {"numTargetRowsDeleted", r.deleted}, {"badLines", r.bad_lines},
             {"deletedIds", deleted_ids}, {"source", fs::absolute(o.export_dir).string()}}.dump();
    store::CrashPoint("before-commit");
    if (attempt == 1) MaybeWaitAtGate();
    auto version = table.Write(*snapshot, commit);
    if (version.ok()) {
      store::CrashPoint("after-commit");
      r.version = *version;
      result = r;
      if (errors.count()) summary.error_files.push_back(errors.path());
      break;
    }
    discard_all();
    errors.Discard();
    if (!delta::Table::IsConflict(version.status()) || attempt >= o.commit_attempts) return version.status();
    snapshot = table.Load();  // another writer won: re-plan on the new version
    if (!snapshot.ok()) return snapshot.status();
    if (o.mode == SaveMode::kError && snapshot->version >= 0) {
      return InvalidArgument("table " + root.string() + " was created meanwhile and the save mode is 'error'");
    }
  }
  summary.bad_lines += result.bad_lines;
  return result;
}

}  // namespace

Result<SaveMode> ParseSaveMode(std::string_view text) {
  for (SaveMode m : {SaveMode::kMerge, SaveMode::kOverwrite, SaveMode::kAppend, SaveMode::kIgnore, SaveMode::kError}) {
    if (text == ModeName(m)) return m;
  }
  return InvalidArgument("unknown save mode '" + std::string(text) + "' (merge, overwrite, append, ignore, error)");
}

Result<LoadSummary> Load(const LoadOptions& o) {
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
  const std::string transaction_time = TransactionTime(o.export_dir);

  // Types load in parallel, each into its own table; results keep the order of the types.
  std::vector<const std::pair<const std::string, std::vector<fs::path>>*> work;
  for (const auto& entry : by_type) work.push_back(&entry);
  std::vector<Result<TableResult>> results(work.size(), Result<TableResult>(InternalError("not run")));
  std::vector<LoadSummary> partial(work.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < work.size(); i = next++) {
      const auto& [type, files] = *work[i];
      auto d = deleted.find(type);
      results[i] = LoadType(o, type, files, d == deleted.end() ? nullptr : &d->second, transaction_time, partial[i]);
    }
  };
  const size_t threads = std::min<size_t>(std::max(1, o.jobs), work.size());
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
