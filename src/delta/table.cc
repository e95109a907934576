#include "fhirlake/delta/table.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fhirlake/delta/checkpoint.h"
#include "fhirlake/delta/log_files.h"
#include "fhirlake/delta/object_files.h"
#include "fhirlake/store/names.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/json_field.h"

namespace fhirlake::delta {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string LeafSparkType(const parquet::SchemaNode& n) {
  switch (n.type) {
    case parquet::PhysicalType::kBoolean: return "boolean";
    case parquet::PhysicalType::kInt32: return "integer";
    case parquet::PhysicalType::kInt64:
      return n.logical == parquet::LogicalType::kTimestampMicrosUtc ? "timestamp" : "long";
    case parquet::PhysicalType::kDouble: return "double";
    case parquet::PhysicalType::kByteArray: return n.logical == parquet::LogicalType::kString ? "string" : "binary";
    case parquet::PhysicalType::kFixedLenByteArray:
      if (n.logical == parquet::LogicalType::kDecimal) {
        return "decimal(" + std::to_string(n.precision) + "," + std::to_string(n.scale) + ")";
      }
      return "binary";
  }
  return "string";
}

// Appends `name` as a JSON string: field names are plain ASCII words, written as they are;
// anything else goes through nlohmann's escaping.
void AppendJsonName(const std::string& name, std::string& out) {
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    out += json(name).dump();
    return;
  }
  out += '"';
  out += name;
  out += '"';
}

// Appends the Spark type of `n` as JSON, written directly (a FHIR schema has thousands of
// nodes; building it as a json tree first cost more than writing a small file). Keys are in
// the order nlohmann's dump() gives them, so schema strings stay byte-identical to those in
// existing tables' logs, which compaction compares.
void AppendSparkType(const parquet::SchemaNode& n, std::string& out) {
  if (n.is_list()) {
    out += R"({"containsNull":true,"elementType":)";
    AppendSparkType(n.list_element(), out);
    out += R"(,"type":"array"})";
    return;
  }
  if (!n.is_leaf) {
    out += R"({"fields":[)";
    for (size_t i = 0; i < n.children.size(); ++i) {
      if (i) out += ',';
      out += R"({"metadata":{},"name":)";
      AppendJsonName(n.children[i]->name, out);
      out += R"(,"nullable":true,"type":)";
      AppendSparkType(*n.children[i], out);
      out += '}';
    }
    out += R"(],"type":"struct"})";
    return;
  }
  out += '"';
  out += LeafSparkType(n);
  out += '"';
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<DeletionVector> DvFromJson(const json& action) {
  if (!action.contains("deletionVector") || !action["deletionVector"].is_object()) return std::nullopt;
  const json& d = action["deletionVector"];
  DeletionVector dv;
  dv.storage_type = FieldOr(d, "storageType", "");
  dv.path_or_inline_dv = FieldOr(d, "pathOrInlineDv", "");
  if (d.contains("offset") && d["offset"].is_number()) dv.offset = d["offset"].get<int32_t>();
  dv.size_in_bytes = FieldOr(d, "sizeInBytes", 0);
  dv.cardinality = FieldOr(d, "cardinality", int64_t{0});
  return dv;
}

// A logical file is its path plus its deletion vector's unique id.
std::string FileKey(const std::string& path, const std::optional<DeletionVector>& dv) {
  return dv ? path + "\n" + dv->UniqueId() : path;
}

std::optional<std::vector<std::string>> Features(const json& p, const char* key) {
  if (!p.contains(key) || !p[key].is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& f : p[key]) {
    if (f.is_string()) out.push_back(f.get<std::string>());
  }
  return out;
}

// Features a legacy protocol version implies (PROTOCOL.md, "Table Features": "Legacy
// protocol versions").
std::vector<std::string> LegacyWriterFeatures(int writer) {
  std::vector<std::string> out;
  if (writer >= 2) out.insert(out.end(), {"appendOnly", "invariants"});
  if (writer >= 3) out.push_back("checkConstraints");
  if (writer >= 4) out.insert(out.end(), {"changeDataFeed", "generatedColumns"});
  if (writer >= 5) out.push_back("columnMapping");
  if (writer >= 6) out.push_back("identityColumns");
  return out;
}

std::vector<std::string> EffectiveWriterFeatures(const Protocol& p) {
  return p.min_writer_version >= 7 ? p.writer_features.value_or(std::vector<std::string>{})
                                   : LegacyWriterFeatures(p.min_writer_version);
}

std::vector<std::string> EffectiveReaderFeatures(const Protocol& p) {
  if (p.min_reader_version >= 3) return p.reader_features.value_or(std::vector<std::string>{});
  if (p.min_reader_version == 2) return {"columnMapping"};
  return {};
}

// Why fhirlake must not write a table with this protocol and metadata, or "". A writer must
// honour every feature the table supports (PROTOCOL.md, "Table Features"); fhirlake honours
// appendOnly and deletionVectors, and a feature that is supported but provably unused (no
// invariant, constraint, generated or identity column, change data feed or column mapping
// configured) asks nothing of it.
std::string WriteRefusal(const Snapshot& s) {
  const auto& c = s.configuration;
  auto config = [&](const std::string& key) {
    auto it = c.find(key);
    return it == c.end() ? std::string() : it->second;
  };
  std::vector<std::string> refused;
  for (const std::string& f : EffectiveWriterFeatures(s.protocol)) {
    bool ok = false;
    if (f == "appendOnly" || f == "deletionVectors" || f == "timestampNtz" || f == "vacuumProtocolCheck") {
      ok = true;
    } else if (f == "invariants") {
      ok = s.schema_string.find("delta.invariants") == std::string::npos;
    } else if (f == "checkConstraints") {
      ok = c.lower_bound("delta.constraints.") == c.end() || !c.lower_bound("delta.constraints.")->first.starts_with("delta.constraints.");
    } else if (f == "changeDataFeed") {
      ok = config("delta.enableChangeDataFeed") != "true";
    } else if (f == "generatedColumns") {
      ok = s.schema_string.find("delta.generationExpression") == std::string::npos;
    } else if (f == "columnMapping") {
      // Supported but not in use (mode none): nothing asks writers for physical names. Writer 5
      // implies the feature, and an upgrade to writer 7 (Delta's, or fhirlake's for deletion
      // vectors) lists it.
      ok = config("delta.columnMapping.mode").empty() || config("delta.columnMapping.mode") == "none";
    } else if (f == "identityColumns") {
      ok = s.schema_string.find("delta.identity") == std::string::npos;
    }
    if (!ok) refused.push_back(f);
  }
  if (s.protocol.min_writer_version > 7) refused.push_back("writer version " + std::to_string(s.protocol.min_writer_version));
  if (s.protocol.min_writer_version == 7 && !s.protocol.writer_features) refused.push_back("writer version 7 without writerFeatures");
  for (const std::string& f : EffectiveReaderFeatures(s.protocol)) {
    // PROTOCOL.md: every reader feature is listed among the writer features too.
    auto w = EffectiveWriterFeatures(s.protocol);
    if (s.protocol.min_writer_version == 7 && std::find(w.begin(), w.end(), f) == w.end()) {
      refused.push_back(f + " (a reader feature missing from writerFeatures)");
    }
  }
  if (refused.empty()) return "";
  std::string list;
  for (const auto& f : refused) list += (list.empty() ? "" : ", ") + f;
  return "the table uses Delta protocol features fhirlake does not support (" + list + "; protocol reader " +
         std::to_string(s.protocol.min_reader_version) + ", writer " + std::to_string(s.protocol.min_writer_version) +
         "); refusing to write it. Load into another warehouse, or remove those features with the engine that added them";
}

// Reader features whose tables fhirlake reads correctly.
Status CheckReadable(const Snapshot& s, const fs::path& root) {
  for (const std::string& f : EffectiveReaderFeatures(s.protocol)) {
    if (f == "deletionVectors" || f == "timestampNtz" || f == "vacuumProtocolCheck") continue;
    if (f == "columnMapping") {
      auto it = s.configuration.find("delta.columnMapping.mode");
      if (it == s.configuration.end() || it->second == "none") continue;
    }
    return InvalidArgument(root.string() + ": the table needs the Delta reader feature " + f +
                           ", which fhirlake does not support; read it with an engine that does");
  }
  if (s.protocol.min_reader_version > 3) {
    return InvalidArgument(root.string() + ": the table needs Delta reader version " +
                           std::to_string(s.protocol.min_reader_version) + ", which fhirlake does not support");
  }
  return Status::Ok();
}

json ProtocolJson(const Protocol& p) {
  json j = {{"minReaderVersion", p.min_reader_version}, {"minWriterVersion", p.min_writer_version}};
  if (p.reader_features) j["readerFeatures"] = *p.reader_features;
  if (p.writer_features) j["writerFeatures"] = *p.writer_features;
  return j;
}

// Log replay: applies actions in log order to the state being built.
class Replay {
 public:
  explicit Replay(Snapshot& snap) : snap_(snap) {}

  Status Apply(const json& action) {
    if (action.contains("commitInfo") && action["commitInfo"].is_object()) {
      const json& info = action["commitInfo"];
      if (info.contains("timestamp") && info["timestamp"].is_number()) snap_.last_commit_ms = info["timestamp"].get<int64_t>();
      std::string tt = FieldOr(info, "transactionTime", "");
      if (!tt.empty()) snap_.last_transaction_time = tt;
    } else if (action.contains("protocol") && action["protocol"].is_object()) {
      const json& p = action["protocol"];
      Protocol proto;
      proto.min_reader_version = FieldOr(p, "minReaderVersion", 1);
      proto.min_writer_version = FieldOr(p, "minWriterVersion", 2);
      proto.reader_features = Features(p, "readerFeatures");
      proto.writer_features = Features(p, "writerFeatures");
      snap_.protocol = std::move(proto);
    } else if (action.contains("metaData") && action["metaData"].is_object()) {
      const auto& m = action["metaData"];
      snap_.table_id = FieldOr(m, "id", "");
      snap_.schema_string = FieldOr(m, "schemaString", "");
      snap_.table_name.reset();
      snap_.table_description.reset();
      snap_.created_time.reset();
      if (m.contains("name") && m["name"].is_string()) snap_.table_name = m["name"].get<std::string>();
      if (m.contains("description") && m["description"].is_string()) snap_.table_description = m["description"].get<std::string>();
      if (m.contains("createdTime") && m["createdTime"].is_number()) snap_.created_time = m["createdTime"].get<int64_t>();
      snap_.partition_columns.clear();
      if (m.contains("partitionColumns") && m["partitionColumns"].is_array()) {
        for (const auto& c : m["partitionColumns"]) {
          if (c.is_string()) snap_.partition_columns.push_back(c.get<std::string>());
        }
      }
      snap_.configuration = StringMap(m, "configuration");
      snap_.format_options = m.contains("format") && m["format"].is_object() ? StringMap(m["format"], "options")
                                                                            : std::map<std::string, std::string>{};
    } else if (action.contains("add") && action["add"].is_object()) {
      const auto& a = action["add"];
      AddFile f{DecodeActionPath(FieldOr(a, "path", "")), FieldOr(a, "size", int64_t{0}), FieldOr(a, "modificationTime", int64_t{0}), 0,
                a.contains("stats") && a["stats"].is_string() ? a["stats"].get<std::string>() : std::string(), DvFromJson(a),
                PartitionValues(a), StringMap(a, "tags")};
      json stats = json::parse(f.stats_json, nullptr, false);
      if (stats.is_object()) {
        f.num_records = FieldOr(stats, "numRecords", int64_t{0});
      } else if (f.stats_json.empty() && a.contains("stats_parsed") && a["stats_parsed"].is_object() &&
                 a["stats_parsed"].contains("numRecords") && a["stats_parsed"]["numRecords"].is_number_integer()) {
        // A checkpoint with its statistics only as a struct: keep the row count, also as the
        // `stats` of the checkpoints and commits fhirlake writes from this state.
        f.num_records = a["stats_parsed"]["numRecords"].get<int64_t>();
        f.stats_json = json{{"numRecords", f.num_records}}.dump();
      }
      const std::string key = FileKey(f.path, f.deletion_vector);
      tombstones_.erase(key);
      auto it = position_.find(key);
      if (it != position_.end()) {
        files_[it->second] = std::move(f);  // the same logical file again: the later action wins
      } else {
        position_[key] = files_.size();
        files_.push_back(std::move(f));
      }
    } else if (action.contains("remove") && action["remove"].is_object()) {
      const auto& r = action["remove"];
      RemovedFile t{DecodeActionPath(FieldOr(r, "path", "")), FieldOr(r, "deletionTimestamp", int64_t{0}),
                    FieldOr(r, "size", int64_t{0}), FieldOr(r, "dataChange", true), DvFromJson(r)};
      const std::string key = FileKey(t.path, t.deletion_vector);
      auto it = position_.find(key);
      if (it != position_.end()) {
        files_[it->second].reset();
        position_.erase(it);
      }
      tombstones_[key] = std::move(t);
    } else if (action.contains("txn") && action["txn"].is_object()) {
      const json& t = action["txn"];
      const std::string app = FieldOr(t, "appId", "");
      snap_.app_versions[app] = FieldOr(t, "version", int64_t{0});
      if (t.contains("lastUpdated") && t["lastUpdated"].is_number()) snap_.app_last_updated[app] = t["lastUpdated"].get<int64_t>();
    }
    return Status::Ok();
  }

  void Finish() {
    for (auto& f : files_) {
      if (f) snap_.files.push_back(std::move(*f));
    }
    for (auto& [key, t] : tombstones_) snap_.tombstones.push_back(std::move(t));
    std::sort(snap_.tombstones.begin(), snap_.tombstones.end(),
              [](const RemovedFile& a, const RemovedFile& b) { return a.deletion_timestamp < b.deletion_timestamp; });
  }

 private:
  // A null partition value is a value too: the file's rows have null in that column.
  static std::map<std::string, std::optional<std::string>> PartitionValues(const json& add) {
    std::map<std::string, std::optional<std::string>> out;
    if (add.contains("partitionValues") && add["partitionValues"].is_object()) {
      for (const auto& [k, v] : add["partitionValues"].items()) {
        if (v.is_string()) out[k] = v.get<std::string>();
        else if (v.is_null()) out[k] = std::nullopt;
      }
    }
    return out;
  }
  static std::map<std::string, std::string> StringMap(const json& parent, const char* key) {
    std::map<std::string, std::string> out;
    if (parent.contains(key) && parent[key].is_object()) {
      for (const auto& [k, v] : parent[key].items()) {
        if (v.is_string()) out[k] = v.get<std::string>();
      }
    }
    return out;
  }

  Snapshot& snap_;
  std::map<std::string, size_t> position_;  // file key → index in files_
  std::vector<std::optional<AddFile>> files_;
  std::map<std::string, RemovedFile> tombstones_;
};

// How many commits at or before a checkpoint Load reads, newest first, for the last
// transactionTime: a load's maintenance adds a few commits without one.
constexpr int64_t kTransactionTimeLookback = 100;

// A commit file is a document, not bulk data; this bounds what one may hold in memory.
constexpr size_t kMaxCommitBytes = 256u << 20;

// Calls `fn` with each line of the commit `key` (empty lines skipped); stops when it returns false.
template <typename Fn>
Status ForEachCommitLine(store::ObjectStore& store, const std::string& key, Fn&& fn) {
  auto text = store.Get(key, kMaxCommitBytes);
  if (!text.ok()) return text.status().WithContext("cannot read the Delta commit " + store.Describe() + "/" + key);
  std::string_view rest = *text;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    Result<bool> more = fn(line);
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return Status::Ok();
}

Status ReplayCommit(store::ObjectStore& store, const std::string& key, Replay& replay) {
  return ForEachCommitLine(store, key, [&](std::string_view line) -> Result<bool> {
    json action = json::parse(line, nullptr, false);
    if (action.is_discarded()) return DataLoss(store.Describe() + "/" + key + " is not valid JSON");
    FHIRLAKE_RETURN_IF_ERROR(replay.Apply(action));
    return true;
  });
}

// The newest complete checkpoint among `log`: a single file, or every part of a multi-part one.
struct NewestCheckpoint {
  int64_t version = -1;
  std::vector<std::string> keys;  // its file(s), by part
};

NewestCheckpoint FindNewestCheckpoint(const std::vector<LogFile>& log) {
  NewestCheckpoint newest;
  std::map<std::pair<int64_t, int>, std::vector<const LogFile*>> parts;  // (version, parts) → files
  for (const LogFile& f : log) {
    if (f.kind == LogFileKind::kCheckpoint && f.version > newest.version) {
      newest = {f.version, {f.key}};
    } else if (f.kind == LogFileKind::kCheckpointPart) {
      parts[{f.version, f.parts}].push_back(&f);
    }
  }
  for (const auto& [key, files] : parts) {
    if (static_cast<int>(files.size()) == key.second && key.first > newest.version) {
      newest.version = key.first;
      newest.keys.clear();
      for (const LogFile* f : files) newest.keys.push_back(f->key);  // sorted by part
    }
  }
  return newest;
}

}  // namespace

std::string SparkSchemaJson(const parquet::Schema& schema) {
  std::string out;
  AppendSparkType(schema.root(), out);
  return out;
}

Table::Table(fs::path root)
    : root_(std::move(root)), store_(std::shared_ptr<store::ObjectStore>(store::NewLocalStore(root_.string()))) {}

Table::Table(std::shared_ptr<store::ObjectStore> store, std::string table_key)
    : root_(store::WarehouseLayout(store->Describe()).Locate(table_key)), store_(std::move(store)),
      key_(std::move(table_key)) {}

Result<Table> Table::Open(std::string_view location) {
  if (!store::IsS3Location(location)) return Table(fs::path(location));
  auto opened = store::OpenStore(location);
  if (!opened.ok()) return opened.status();
  return Table(std::shared_ptr<store::ObjectStore>(std::move(opened.value())), "");
}

std::string Table::Key(std::string_view relative) const { return store::WarehouseLayout::Join(key_, relative); }

bool Table::IsConflict(const Status& status) { return status.code() == StatusCode::kConflict; }

bool Protocol::HasWriterFeature(const std::string& feature) const {
  auto all = EffectiveWriterFeatures(*this);
  return std::find(all.begin(), all.end(), feature) != all.end();
}

bool Protocol::HasReaderFeature(const std::string& feature) const {
  auto all = EffectiveReaderFeatures(*this);
  return std::find(all.begin(), all.end(), feature) != all.end();
}

int64_t Snapshot::IntProperty(const std::string& key, int64_t fallback) const {
  auto it = configuration.find(key);
  if (it == configuration.end()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  return end && *end == '\0' && end != it->second.c_str() ? v : fallback;
}

Result<Snapshot> Table::Load() const {
  Snapshot snap;
  // Start at the checkpoint `_last_checkpoint` names (PROTOCOL.md, "Last Checkpoint File"): the
  // listing then holds what came after it, however many commits the table has had. Without the
  // hint, or when it names no complete checkpoint, list the whole log.
  const auto hint = ReadLastCheckpoint(*store_, key_);
  const int64_t from = hint ? std::max<int64_t>(hint->version, 0) : 0;
  auto listed = ListLogFiles(*store_, key_, from);
  if (!listed.ok()) return listed.status();
  NewestCheckpoint newest = FindNewestCheckpoint(*listed);
  if (from > 0 && newest.version < 0) {
    listed = ListLogFiles(*store_, key_);
    if (!listed.ok()) return listed.status();
    newest = FindNewestCheckpoint(*listed);
  }
  const std::vector<LogFile>& log = *listed;
  snap.log_files_listed = static_cast<int>(log.size());
  if (log.empty()) return snap;
  const int64_t checkpoint = newest.version;
  const std::vector<std::string>& checkpoint_files = newest.keys;
  std::vector<const LogFile*> commits;
  for (const LogFile& f : log) {
    if (f.kind == LogFileKind::kCommit && f.version > checkpoint) commits.push_back(&f);
  }
  int64_t expected = checkpoint + 1;
  for (const LogFile* c : commits) {
    if (c->version != expected) {
      return DataLoss(root_.string() + ": the Delta log has no version " + std::to_string(expected) +
                      (checkpoint < 0 ? " and no checkpoint to start from" : " after its checkpoint at version " +
                                                                                 std::to_string(checkpoint)));
    }
    ++expected;
  }
  if (checkpoint < 0 && commits.empty()) return snap;

  Replay replay(snap);
  for (const std::string& key : checkpoint_files) {
    Status st = ReadCheckpointActions(OpenObjectSource(*store_, key), [&](const json& action) { return replay.Apply(action); });
    if (!st.ok()) return st.WithContext(root_.string() + ": cannot read checkpoint " + key.substr(key.rfind('/') + 1));
    ++snap.log_files_read;
  }
  snap.checkpoint_version = checkpoint;
  snap.version = checkpoint;
  for (const LogFile* c : commits) {
    FHIRLAKE_RETURN_IF_ERROR(ReplayCommit(*store_, c->key, replay));
    ++snap.log_files_read;
    snap.version = c->version;
  }
  replay.Finish();
  // The checkpoint carries no commitInfo: take the latest transactionTime from the commits at
  // or before it that are still there, newest first (they were not listed: read by name), at
  // most kTransactionTimeLookback of them (a table no fhirlake load wrote has none to find).
  for (int64_t v = checkpoint; v >= 0 && v > checkpoint - kTransactionTimeLookback && snap.last_transaction_time.empty();
       --v) {
    const std::string key = store::WarehouseLayout::Join(store::WarehouseLayout::DeltaLog(key_), CommitFileName(v));
    // Best effort: a commit that is gone or cannot be read ends the search, the time unknown.
    Status read = ForEachCommitLine(*store_, key, [&](std::string_view line) -> Result<bool> {
      json action = json::parse(line, nullptr, false);
      if (!action.is_object() || !action.contains("commitInfo") || !action["commitInfo"].is_object()) return true;
      const json& info = action["commitInfo"];
      if (snap.last_commit_ms == 0 && info.contains("timestamp") && info["timestamp"].is_number()) {
        snap.last_commit_ms = info["timestamp"].get<int64_t>();
      }
      snap.last_transaction_time = FieldOr(info, "transactionTime", "");
      return false;
    });
    if (!read.ok()) break;
  }
  FHIRLAKE_RETURN_IF_ERROR(CheckReadable(snap, root_));
  snap.deletion_vectors_supported = snap.protocol.HasReaderFeature("deletionVectors") &&
                                    snap.protocol.HasWriterFeature("deletionVectors");
  snap.write_refusal = WriteRefusal(snap);
  return snap;
}

Result<std::vector<std::pair<int64_t, std::string>>> Table::CommitInfos(int64_t from_version) const {
  std::vector<std::pair<int64_t, std::string>> out;
  auto listed = ListLogFiles(*store_, key_, std::max<int64_t>(from_version, 0));
  if (!listed.ok()) return listed.status();
  for (const LogFile& f : *listed) {
    if (f.kind != LogFileKind::kCommit || f.version < from_version) continue;
    FHIRLAKE_RETURN_IF_ERROR(ForEachCommitLine(*store_, f.key, [&](std::string_view line) -> Result<bool> {
      json action = json::parse(line, nullptr, false);
      if (!action.is_object() || !action.contains("commitInfo")) return true;
      out.emplace_back(f.version, action["commitInfo"].dump());
      return false;
    }));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<int64_t> Table::Write(const Snapshot& snapshot, const Commit& commit) const {
  const int64_t version = snapshot.version + 1;
  if (version == 0 && !commit.schema_string) return InvalidArgument("the first commit of a table must carry its schema");
  if (!snapshot.write_refusal.empty()) return InvalidArgument(root_.string() + ": " + snapshot.write_refusal);
  // A partitioned table (partitioned by another engine: fhirlake creates none) takes each
  // partition column's value from every add's partitionValues, not from the file.
  for (const auto& add : commit.adds) {
    for (const auto& column : snapshot.partition_columns) {
      if (!add.partition_values.contains(column)) {
        return InvalidArgument(root_.string() + " is partitioned by " + column +
                               ", and fhirlake writes unpartitioned tables only; load into another table, or "
                               "remove the partitioning with the engine that added it");
      }
    }
  }
  // PROTOCOL.md, "Append-only Tables": with delta.appendOnly=true (and the feature supported,
  // as at every writer version >= 2) a writer must not remove data. Rearranging it
  // (dataChange false) is allowed.
  if (snapshot.append_only() && snapshot.protocol.HasWriterFeature("appendOnly") && commit.data_change) {
    bool removes_data = !commit.removes.empty();
    for (const auto& a : commit.adds) removes_data = removes_data || a.deletion_vector.has_value();
    if (removes_data) {
      return InvalidArgument(root_.string() + " has the table property delta.appendOnly=true, so " + commit.operation +
                             " may not update or delete rows; load with --mode append, or set delta.appendOnly to "
                             "false (ALTER TABLE ... SET TBLPROPERTIES ('delta.appendOnly' = 'false')) first");
    }
  }
  const int64_t now = NowMillis();
  std::string text;
  auto line = [&](const json& j) { text += j.dump() + "\n"; };
  json info = {{"timestamp", now},
               {"operation", commit.operation},
               {"operationParameters", json::parse(commit.operation_parameters_json, nullptr, false)},
               {"isBlindAppend", commit.blind_append && commit.removes.empty() && version > 0},
               {"engineInfo", "fhirlake/0.1.0"}};
  if (version > 0) info["readVersion"] = snapshot.version;
  json extra = json::parse(commit.commit_info_extra_json, nullptr, false);
  if (extra.is_object()) info.update(extra);
  line({{"commitInfo", info}});
  const bool upgrade = commit.enable_deletion_vectors && !snapshot.deletion_vectors_enabled();
  if (upgrade && !snapshot.deletion_vectors_supported) {
    // Reader 3 / writer 7 list features explicitly: keep every feature the table has, the
    // ones its legacy versions implied included, and add deletionVectors.
    Protocol p;
    p.min_reader_version = 3;
    p.min_writer_version = 7;
    auto add = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
      for (const auto& f : from) {
        if (std::find(to.begin(), to.end(), f) == to.end()) to.push_back(f);
      }
    };
    std::vector<std::string> reader, writer;
    add(reader, EffectiveReaderFeatures(snapshot.protocol));
    add(writer, version == 0 ? LegacyWriterFeatures(2) : EffectiveWriterFeatures(snapshot.protocol));
    add(writer, reader);  // a reader feature is a writer feature too
    add(reader, {"deletionVectors"});
    add(writer, {"deletionVectors"});
    p.reader_features = reader;
    p.writer_features = writer;
    line({{"protocol", ProtocolJson(p)}});
  } else if (version == 0) {
    line({{"protocol", {{"minReaderVersion", 1}, {"minWriterVersion", 2}}}});
  }
  if (commit.schema_string || upgrade || !commit.set_configuration.empty()) {
    json configuration(snapshot.configuration);
    if (commit.enable_deletion_vectors) configuration["delta.enableDeletionVectors"] = "true";
    for (const auto& [k, v] : commit.set_configuration) configuration[k] = v;
    json metadata = {{"id", snapshot.table_id.empty() ? store::UuidText(store::NewUuidBytes()) : snapshot.table_id},
                     {"format", {{"provider", "parquet"}, {"options", snapshot.format_options}}},
                     {"schemaString", commit.schema_string ? *commit.schema_string : snapshot.schema_string},
                     {"partitionColumns", snapshot.partition_columns},
                     {"configuration", configuration},
                     {"createdTime", snapshot.created_time.value_or(now)}};
    if (snapshot.table_name) metadata["name"] = *snapshot.table_name;
    if (snapshot.table_description) metadata["description"] = *snapshot.table_description;
    line({{"metaData", metadata}});
  }
  if (commit.txn) line({{"txn", {{"appId", commit.txn->first}, {"version", commit.txn->second}, {"lastUpdated", now}}}});
  for (const auto& r : commit.removes) {
    json remove = {{"path", EncodeActionPath(r.path)}, {"deletionTimestamp", now}, {"dataChange", commit.data_change},
                   {"extendedFileMetadata", true}, {"size", r.size}};
    PutPartitionValuesAndTags(r, remove);
    if (r.deletion_vector) remove["deletionVector"] = DeletionVectorJson(*r.deletion_vector);
    line({{"remove", remove}});
  }
  for (const auto& a : commit.adds) {
    json add = {{"path", EncodeActionPath(a.path)}, {"size", a.size}, {"modificationTime", a.modification_time},
                {"dataChange", commit.data_change}, {"stats", a.stats_json}};
    PutPartitionValuesAndTags(a, add);
    if (a.deletion_vector) add["deletionVector"] = DeletionVectorJson(*a.deletion_vector);
    line({{"add", add}});
  }
  // Put-if-absent: of two writers racing for this version the store lets exactly one create
  // it (locally link() of a complete temporary file; on S3 If-None-Match: *).
  const std::string target = Key(store::WarehouseLayout::Join(store::WarehouseLayout::kDeltaLog, CommitFileName(version)));
  Status put = store_->PutIfAbsent(target, text);
  if (put.code() == StatusCode::kConflict) {
    return Status(StatusCode::kConflict, "another writer committed version " + std::to_string(version) + " of " +
                                             root_.string() + " first");
  }
  if (!put.ok()) return put.WithContext("cannot commit version " + std::to_string(version) + " of " + root_.string());
  MaybeCheckpoint(version, snapshot);
  return version;
}

void Table::MaybeCheckpoint(int64_t version, const Snapshot& before) const {
  const int64_t interval = before.IntProperty("delta.checkpointInterval", kDefaultCheckpointInterval);
  if (interval <= 0 || version == 0 || version % interval != 0) return;
  // The state at `version`, replayed from the previous checkpoint and at most `interval`
  // commits. A failure leaves the table without this checkpoint, which readers do not need.
  auto snap = Load();
  if (snap.ok() && snap->version == version) (void)WriteCheckpoint(*store_, key_, *snap, NowMillis());
}

}  // namespace fhirlake::delta
