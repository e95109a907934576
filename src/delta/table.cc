#include "fhirlake/delta/table.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"

namespace fhirlake::delta {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json SparkType(const parquet::SchemaNode& n) {
  if (n.is_list()) {
    return {{"type", "array"}, {"elementType", SparkType(n.list_element())}, {"containsNull", true}};
  }
  if (!n.is_leaf) {
    json fields = json::array();
    for (const auto& c : n.children) {
      fields.push_back({{"name", c->name}, {"type", SparkType(*c)}, {"nullable", true}, {"metadata", json::object()}});
    }
    return {{"type", "struct"}, {"fields", fields}};
  }
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

std::string CommitName(int64_t version) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld.json", static_cast<long long>(version));
  return buf;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Reader 1 / writer ≤ 2 without features, or reader 3 / writer 7 whose only feature is
// deletionVectors.
Status CheckProtocol(const json& p, Snapshot& snap) {
  const int reader = p.value("minReaderVersion", 1), writer = p.value("minWriterVersion", 2);
  auto only_dvs = [&](const char* key) {
    if (!p.contains(key)) return false;
    for (const auto& f : p[key]) {
      if (f != "deletionVectors") return false;
    }
    return true;
  };
  if (reader <= 1 && writer <= 2 && !p.contains("readerFeatures") && !p.contains("writerFeatures")) {
    snap.deletion_vectors_supported = false;
    return Status::Ok();
  }
  if (reader == 3 && writer == 7 && only_dvs("readerFeatures") && only_dvs("writerFeatures")) {
    snap.deletion_vectors_supported = true;
    return Status::Ok();
  }
  return InvalidArgument("the table uses Delta protocol features fhirlake does not support (reader " +
                         std::to_string(reader) + ", writer " + std::to_string(writer) + ", features " +
                         p.value("writerFeatures", json::array()).dump() + "); refusing to write it");
}

std::optional<DeletionVector> DvFromJson(const json& action) {
  if (!action.contains("deletionVector") || !action["deletionVector"].is_object()) return std::nullopt;
  const json& d = action["deletionVector"];
  DeletionVector dv;
  dv.storage_type = d.value("storageType", "");
  dv.path_or_inline_dv = d.value("pathOrInlineDv", "");
  if (d.contains("offset") && d["offset"].is_number()) dv.offset = d["offset"].get<int32_t>();
  dv.size_in_bytes = d.value("sizeInBytes", 0);
  dv.cardinality = d.value("cardinality", int64_t{0});
  return dv;
}

json DvToJson(const DeletionVector& dv) {
  json d = {{"storageType", dv.storage_type}, {"pathOrInlineDv", dv.path_or_inline_dv},
            {"sizeInBytes", dv.size_in_bytes}, {"cardinality", dv.cardinality}};
  if (dv.offset) d["offset"] = *dv.offset;
  return d;
}

// A logical file is its path plus its deletion vector's unique id.
std::string FileKey(const std::string& path, const std::optional<DeletionVector>& dv) {
  return dv ? path + "\n" + dv->UniqueId() : path;
}

}  // namespace

std::string SparkSchemaJson(const parquet::Schema& schema) { return SparkType(schema.root()).dump(); }

bool Table::IsConflict(const Status& status) { return status.code() == StatusCode::kConflict; }

Result<Snapshot> Table::Load() const {
  Snapshot snap;
  const fs::path log = root_ / "_delta_log";
  std::error_code ec;
  if (!fs::is_directory(log, ec)) return snap;
  std::vector<std::pair<int64_t, fs::path>> commits;
  for (const auto& e : fs::directory_iterator(log, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() != 25 || !name.ends_with(".json") ||
        name.find_first_not_of("0123456789") != 20) {
      continue;  // temporary files, checkpoints, CRCs: not commits
    }
    commits.emplace_back(std::stoll(name.substr(0, 20)), e.path());
  }
  std::sort(commits.begin(), commits.end());
  std::map<std::string, size_t> position;  // path → index in files
  std::vector<std::optional<AddFile>> files;
  for (size_t i = 0; i < commits.size(); ++i) {
    if (commits[i].first != static_cast<int64_t>(i)) {
      return DataLoss(root_.string() + ": the Delta log has no version " + std::to_string(i) +
                      " (checkpoints are not read yet)");
    }
    std::ifstream in(commits[i].second);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json action = json::parse(line, nullptr, false);
      if (action.is_discarded()) return DataLoss(commits[i].second.string() + " is not valid JSON");
      if (action.contains("commitInfo") && action["commitInfo"].is_object()) {
        const json& info = action["commitInfo"];
        snap.last_commit_ms = info.value("timestamp", snap.last_commit_ms);
        std::string tt = info.value("transactionTime", "");
        if (!tt.empty()) snap.last_transaction_time = tt;
      } else if (action.contains("protocol")) {
        FHIRLAKE_RETURN_IF_ERROR(CheckProtocol(action["protocol"], snap));
      } else if (action.contains("metaData")) {
        const auto& m = action["metaData"];
        snap.table_id = m.value("id", "");
        snap.schema_string = m.value("schemaString", "");
        snap.configuration.clear();
        if (m.contains("configuration") && m["configuration"].is_object()) {
          for (const auto& [k, v] : m["configuration"].items()) {
            if (v.is_string()) snap.configuration[k] = v.get<std::string>();
          }
        }
      } else if (action.contains("add")) {
        const auto& a = action["add"];
        AddFile f{a.value("path", ""), a.value("size", int64_t{0}), a.value("modificationTime", int64_t{0}), 0,
                  a.value("stats", ""), DvFromJson(a)};
        json stats = json::parse(f.stats_json, nullptr, false);
        if (stats.is_object()) f.num_records = stats.value("numRecords", int64_t{0});
        position[FileKey(f.path, f.deletion_vector)] = files.size();
        files.push_back(std::move(f));
      } else if (action.contains("remove")) {
        const auto& r = action["remove"];
        auto it = position.find(FileKey(r.value("path", ""), DvFromJson(r)));
        if (it != position.end()) {
          files[it->second].reset();
          position.erase(it);
        }
      } else if (action.contains("txn")) {
        snap.app_versions[action["txn"].value("appId", "")] = action["txn"].value("version", int64_t{0});
      }
    }
    snap.version = commits[i].first;
  }
  for (auto& f : files) {
    if (f) snap.files.push_back(std::move(*f));
  }
  return snap;
}

Result<std::vector<std::pair<int64_t, std::string>>> Table::CommitInfos() const {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_ / "_delta_log", ec)) {
    std::string name = e.path().filename().string();
    if (name.size() != 25 || !name.ends_with(".json") || name.find_first_not_of("0123456789") != 20) continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      json action = json::parse(line, nullptr, false);
      if (action.is_object() && action.contains("commitInfo")) {
        out.emplace_back(std::stoll(name.substr(0, 20)), action["commitInfo"].dump());
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<int64_t> Table::Write(const Snapshot& snapshot, const Commit& commit) const {
  const int64_t version = snapshot.version + 1;
  if (version == 0 && !commit.schema_string) return InvalidArgument("the first commit of a table must carry its schema");
  const fs::path log = root_ / "_delta_log";
  std::error_code ec;
  fs::create_directories(log, ec);
  if (ec) return IoError("cannot create " + log.string() + ": " + ec.message());
  const int64_t now = NowMillis();
  std::string text;
  auto line = [&](const json& j) { text += j.dump() + "\n"; };
  json info = {{"timestamp", now},
               {"operation", commit.operation},
               {"operationParameters", json::parse(commit.operation_parameters_json, nullptr, false)},
               {"isBlindAppend", commit.removes.empty()},
               {"engineInfo", "fhirlake/0.1.0"}};
  json extra = json::parse(commit.commit_info_extra_json, nullptr, false);
  if (extra.is_object()) info.update(extra);
  line({{"commitInfo", info}});
  const bool upgrade = commit.enable_deletion_vectors && !snapshot.deletion_vectors_enabled();
  if (upgrade) {
    line({{"protocol", {{"minReaderVersion", 3}, {"minWriterVersion", 7}, {"readerFeatures", {"deletionVectors"}},
                        {"writerFeatures", {"deletionVectors"}}}}});
  } else if (version == 0) {
    line({{"protocol", {{"minReaderVersion", 1}, {"minWriterVersion", 2}}}});
  }
  if (commit.schema_string || upgrade) {
    json configuration(snapshot.configuration);
    if (commit.enable_deletion_vectors) configuration["delta.enableDeletionVectors"] = "true";
    line({{"metaData", {{"id", snapshot.table_id.empty() ? store::UuidText(store::NewUuidBytes()) : snapshot.table_id},
                        {"format", {{"provider", "parquet"}, {"options", json::object()}}},
                        {"schemaString", commit.schema_string ? *commit.schema_string : snapshot.schema_string},
                        {"partitionColumns", json::array()},
                        {"configuration", configuration},
                        {"createdTime", now}}}});
  }
  if (commit.txn) line({{"txn", {{"appId", commit.txn->first}, {"version", commit.txn->second}, {"lastUpdated", now}}}});
  for (const auto& r : commit.removes) {
    json remove = {{"path", r.path}, {"deletionTimestamp", now}, {"dataChange", true}, {"extendedFileMetadata", true},
                   {"partitionValues", json::object()}, {"size", r.size}};
    if (r.deletion_vector) remove["deletionVector"] = DvToJson(*r.deletion_vector);
    line({{"remove", remove}});
  }
  for (const auto& a : commit.adds) {
    json add = {{"path", a.path}, {"partitionValues", json::object()}, {"size", a.size},
                {"modificationTime", a.modification_time}, {"dataChange", true}, {"stats", a.stats_json}};
    if (a.deletion_vector) add["deletionVector"] = DvToJson(*a.deletion_vector);
    line({{"add", add}});
  }
  // Put-if-absent: write the whole commit under a temporary name, then hard-link it to the
  // version's name; link() fails with EEXIST when another writer already committed it.
  fs::path target = log / CommitName(version);
  fs::path tmp = log / ("." + CommitName(version) + "." + store::RandomHex(6) + ".tmp");
  FHIRLAKE_RETURN_IF_ERROR(store::WriteFileAtomically(tmp, text));
  int rc = ::link(tmp.c_str(), target.c_str());
  int err = errno;
  fs::remove(tmp, ec);
  if (rc != 0) {
    if (err == EEXIST) {
      return Status(StatusCode::kConflict, "another writer committed version " + std::to_string(version) + " of " +
                                               root_.string() + " first");
    }
    return IoError("cannot commit " + target.string() + ": " + std::strerror(err));
  }
  int dir = ::open(log.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return version;
}

}  // namespace fhirlake::delta
