#include "fhirlake/load/loader.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

#include "fhirlake/delta/table.h"
#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/ndjson_files.h"
#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/fhir/operation_outcome.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/store/local_file.h"

namespace fhirlake::load {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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

// Export files grouped by resource type, each group sorted.
std::map<std::string, std::vector<fs::path>> ExportFiles(const fs::path& dir) {
  std::map<std::string, std::vector<fs::path>> out;
  for (auto& file : fhir::ListResourceFiles(dir)) out[fhir::ResourceTypeOfFile(file)].push_back(std::move(file));
  return out;
}

std::string RandomName() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

// The export's transactionTime, when it has a manifest.
std::string TransactionTime(const fs::path& dir) {
  auto text = store::ReadSmallFile(dir / "manifest.json");
  if (!text.ok()) return "";
  json m = json::parse(*text, nullptr, false);
  return m.is_object() ? m.value("transactionTime", "") : "";
}

// A test hook: FHIRLAKE_TEST_CRASH=before-commit ends the process after the data file is
// written and before the commit, as a crash would.
void MaybeCrash(const char* step) {
  const char* hook = std::getenv("FHIRLAKE_TEST_CRASH");
  if (hook && std::string(hook) == step) std::_Exit(86);
}

class ErrorLog {
 public:
  ErrorLog(const fs::path& warehouse, const std::string& type) : warehouse_(warehouse), type_(type) {}
  void Add(const fs::path& file, uint64_t line, const std::string& why) {
    if (!out_.is_open()) {
      std::error_code ec;
      fs::create_directories(warehouse_ / "_errors", ec);
      path_ = warehouse_ / "_errors" /
              (type_ + "." + std::to_string(fhir::NowMicros()) + "." + RandomName().substr(0, 8) + ".ndjson");
      out_.open(path_, std::ios::binary);
    }
    std::string text = file.filename().string() + " line " + std::to_string(line) + ": " + why;
    out_ << fhir::OperationOutcome::Error("invalid", text).ToJson() << '\n';
    ++count_;
  }
  uint64_t count() const { return count_; }
  const fs::path& path() const { return path_; }

 private:
  fs::path warehouse_;
  std::string type_;
  std::ofstream out_;
  fs::path path_;
  uint64_t count_ = 0;
};

Result<TableResult> LoadType(const LoadOptions& o, const std::string& type, const std::vector<fs::path>& files,
                             const std::string& transaction_time, LoadSummary& summary) {
  TableResult result;
  result.type = type;
  const fs::path root = o.warehouse / type;
  delta::Table table(root);
  auto snapshot = table.Load();
  if (!snapshot.ok()) return snapshot.status();
  if (snapshot->version >= 0 && o.mode == SaveMode::kIgnore) {
    result.skipped = true;
    return result;
  }
  if (snapshot->version >= 0 && o.mode == SaveMode::kError) {
    return InvalidArgument("table " + root.string() + " exists and the save mode is 'error'");
  }

  parquet::Schema schema = BuildTableSchema(type, o.schema);
  std::error_code ec;
  fs::create_directories(root, ec);
  const std::string data_name = "part-" + RandomName() + ".zstd.parquet";
  auto writer = parquet::FileWriter::Open(root / data_name, schema, o.writer);
  if (!writer.ok()) return writer.status();
  JsonShredder shredder(schema, **writer, {"_json"});
  const size_t json_leaf = schema.leaves().size() - 1;
  ErrorLog errors(o.warehouse, type);
  for (const auto& file : files) {
    auto reader = fhir::NdjsonReader::Open(file, o.max_line_bytes);
    if (!reader.ok()) return reader.status();
    std::string_view line;
    while (true) {
      if (!reader->Next(line)) {
        if (!reader->line_too_long()) break;
        errors.Add(file, reader->line_number() + 1, reader->status().message());
        FHIRLAKE_RETURN_IF_ERROR(reader->SkipLongLine());
        continue;
      }
      if (line.empty()) continue;
      JsonShredder::RowInfo info{type, ""};
      Status s = shredder.ShredRow(line, &info);
      if (!s.ok()) {
        errors.Add(file, reader->line_number(), s.message());
        continue;
      }
      (*writer)->column(json_leaf).AddBytes(0, line);
      FHIRLAKE_RETURN_IF_ERROR((*writer)->EndRow());
      ++result.rows;
    }
    if (!reader->status().ok()) {
      errors.Add(file, reader->line_number() + 1, reader->status().message() + "; the rest of the file was not read");
    }
  }
  FHIRLAKE_RETURN_IF_ERROR((*writer)->Close());
  result.bad_lines = errors.count();
  summary.bad_lines += errors.count();
  if (errors.count()) summary.error_files.push_back(errors.path());

  delta::AddFile add{data_name, static_cast<int64_t>(fs::file_size(root / data_name)),
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count(),
                     static_cast<int64_t>(result.rows), json{{"numRecords", result.rows}}.dump()};
  MaybeCrash("before-commit");
  for (int attempt = 1;; ++attempt) {
    delta::Commit commit;
    commit.operation = "WRITE";
    commit.operation_parameters_json = json{{"mode", ModeName(o.mode)}}.dump();
    std::string schema_string = delta::SparkSchemaJson(schema);
    if (snapshot->version < 0 || snapshot->schema_string != schema_string) commit.schema_string = schema_string;
    commit.adds.push_back(add);
    if (o.mode == SaveMode::kOverwrite) commit.removes = snapshot->files;
    commit.commit_info_extra_json =
        json{{"transactionTime", transaction_time}, {"numOutputRows", result.rows}, {"badLines", result.bad_lines},
             {"source", fs::absolute(o.export_dir).string()}}.dump();
    auto version = table.Write(*snapshot, commit);
    if (version.ok()) {
      result.version = *version;
      return result;
    }
    if (!delta::Table::IsConflict(version.status()) || attempt >= o.commit_attempts) {
      fs::remove(root / data_name, ec);  // never visible; do not leave it behind
      return version.status();
    }
    snapshot = table.Load();  // another writer won: re-plan on the new version
    if (!snapshot.ok()) return snapshot.status();
  }
}

}  // namespace

Result<SaveMode> ParseSaveMode(std::string_view text) {
  for (SaveMode m : {SaveMode::kMerge, SaveMode::kOverwrite, SaveMode::kAppend, SaveMode::kIgnore, SaveMode::kError}) {
    if (text == ModeName(m)) return m;
  }
  return InvalidArgument("unknown save mode '" + std::string(text) + "' (merge, overwrite, append, ignore, error)");
}

Result<LoadSummary> Load(const LoadOptions& o) {
  if (o.mode == SaveMode::kMerge) {
    return InvalidArgument("save mode 'merge' is not available yet; use --mode overwrite or --mode append");
  }
  if (!fs::is_directory(o.export_dir)) return InvalidArgument(o.export_dir.string() + " is not a directory");
  auto by_type = ExportFiles(o.export_dir);
  if (!o.types.empty()) {
    for (auto it = by_type.begin(); it != by_type.end();) {
      it = std::find(o.types.begin(), o.types.end(), it->first) == o.types.end() ? by_type.erase(it) : std::next(it);
    }
  }
  const std::string transaction_time = TransactionTime(o.export_dir);
  LoadSummary summary;
  for (const auto& [type, files] : by_type) {
    auto r = LoadType(o, type, files, transaction_time, summary);
    if (!r.ok()) return r.status().WithContext(type);
    summary.tables.push_back(std::move(r.value()));
  }
  return summary;
}

}  // namespace fhirlake::load
