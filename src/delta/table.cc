#include "fhirlake/delta/table.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "fhirlake/store/local_file.h"

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

std::string RandomHex(size_t bytes, std::string* raw = nullptr) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::string b(bytes, '\0');
  for (auto& c : b) c = static_cast<char>(rng());
  if (raw) *raw = b;
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

std::string NewUuid() {
  std::string b;
  RandomHex(16, &b);
  b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[static_cast<unsigned char>(b[i]) >> 4]);
    out.push_back(hex[static_cast<unsigned char>(b[i]) & 15]);
  }
  return out;
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
      if (action.contains("protocol")) {
        const auto& p = action["protocol"];
        if (p.value("minReaderVersion", 1) > 1 || p.contains("readerFeatures") || p.contains("writerFeatures") ||
            p.value("minWriterVersion", 2) > 2) {
          return InvalidArgument(root_.string() + " uses Delta protocol features fhirlake does not support (reader " +
                                 std::to_string(p.value("minReaderVersion", 1)) + ", writer " +
                                 std::to_string(p.value("minWriterVersion", 2)) + "); refusing to write it");
        }
      } else if (action.contains("metaData")) {
        snap.table_id = action["metaData"].value("id", "");
        snap.schema_string = action["metaData"].value("schemaString", "");
      } else if (action.contains("add")) {
        const auto& a = action["add"];
        AddFile f{a.value("path", ""), a.value("size", int64_t{0}), a.value("modificationTime", int64_t{0}), 0,
                  a.value("stats", "")};
        json stats = json::parse(f.stats_json, nullptr, false);
        if (stats.is_object()) f.num_records = stats.value("numRecords", int64_t{0});
        position[f.path] = files.size();
        files.push_back(std::move(f));
      } else if (action.contains("remove")) {
        auto it = position.find(action["remove"].value("path", ""));
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
  if (version == 0) line({{"protocol", {{"minReaderVersion", 1}, {"minWriterVersion", 2}}}});
  if (commit.schema_string) {
    line({{"metaData", {{"id", snapshot.table_id.empty() ? NewUuid() : snapshot.table_id},
                        {"format", {{"provider", "parquet"}, {"options", json::object()}}},
                        {"schemaString", *commit.schema_string},
                        {"partitionColumns", json::array()},
                        {"configuration", json::object()},
                        {"createdTime", now}}}});
  }
  if (commit.txn) line({{"txn", {{"appId", commit.txn->first}, {"version", commit.txn->second}, {"lastUpdated", now}}}});
  for (const auto& r : commit.removes) {
    line({{"remove", {{"path", r.path}, {"deletionTimestamp", now}, {"dataChange", true},
                      {"extendedFileMetadata", true}, {"partitionValues", json::object()}, {"size", r.size}}}});
  }
  for (const auto& a : commit.adds) {
    line({{"add", {{"path", a.path}, {"partitionValues", json::object()}, {"size", a.size},
                   {"modificationTime", a.modification_time}, {"dataChange", true}, {"stats", a.stats_json}}}});
  }
  // Put-if-absent: write the whole commit under a temporary name, then hard-link it to the
  // version's name; link() fails with EEXIST when another writer already committed it.
  fs::path target = log / CommitName(version);
  fs::path tmp = log / ("." + CommitName(version) + "." + RandomHex(6) + ".tmp");
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
