#include "fhirlake/delta/checkpoint.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>
#include <string>

#include "fhirlake/delta/log_files.h"
#include "fhirlake/delta/object_files.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/file_writer.h"
#include "fhirlake/parquet/schema.h"
#include "fhirlake/store/local_file.h"
#include "fhirlake/store/names.h"
#include "fhirlake/store/warehouse_layout.h"
#include "fhirlake/json_field.h"

namespace fhirlake::delta {
namespace fs = std::filesystem;
using nlohmann::json;
using parquet::ColumnValues;
using parquet::PhysicalType;

namespace {

// The top-level checkpoint columns, each with the field whose presence marks a row as that
// action (PROTOCOL.md, "Checkpoint Schema").
const std::pair<const char*, const char*> kActions[] = {
    {"txn", "appId"}, {"add", "path"}, {"remove", "path"}, {"metaData", "id"}, {"protocol", "minReaderVersion"},
    {"domainMetadata", "domain"}};

std::vector<std::string> Split(const std::string& dotted) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

json::json_pointer Pointer(const std::vector<std::string>& parts, size_t n) {
  json::json_pointer p;
  for (size_t i = 0; i < n; ++i) p /= parts[i];
  return p;
}

// One column of the checkpoint as the reader assembles rows from it.
struct Column {
  int index = -1;
  PhysicalType type = PhysicalType::kByteArray;
  std::vector<std::string> parts;  // the dotted path split
  enum Kind { kScalar, kMapKey, kMapValue, kListElement } kind = kScalar;
  int repeated_def = 0;
  ColumnValues values;
  std::vector<size_t> row_start;  // repeated columns: the first slot of each row, and the end

  json Value(size_t slot) const {
    switch (type) {
      case PhysicalType::kBoolean: return values.ints[slot] != 0;
      case PhysicalType::kByteArray: return std::string(values.string(slot));
      default: return values.ints[slot];
    }
  }
};

}  // namespace

std::optional<LastCheckpoint> ReadLastCheckpoint(const fs::path& root) {
  auto local = store::NewLocalStore(root.string());
  return ReadLastCheckpoint(*local, "");
}

std::optional<LastCheckpoint> ReadLastCheckpoint(store::ObjectStore& store, std::string_view table_key) {
  auto text = store.Get(store::WarehouseLayout::Join(store::WarehouseLayout::DeltaLog(table_key), kLastCheckpointName),
                        16u << 20);
  if (!text.ok()) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("version") || !j["version"].is_number_integer()) return std::nullopt;
  LastCheckpoint lc;
  lc.version = j["version"].get<int64_t>();
  lc.size = FieldOr(j, "size", int64_t{0});
  if (j.contains("parts") && j["parts"].is_number_integer()) lc.parts = j["parts"].get<int>();
  if (j.contains("numOfAddFiles") && j["numOfAddFiles"].is_number_integer()) lc.num_of_add_files = j["numOfAddFiles"].get<int64_t>();
  return lc;
}

Status ReadCheckpointActions(const fs::path& file, const std::function<Status(const json&)>& action) {
  auto source = parquet::OpenFileSource(file);
  if (!source.ok()) return source.status();
  return ReadCheckpointActions(std::move(source.value()), action);
}

Status ReadCheckpointActions(std::unique_ptr<parquet::InputSource> source,
                             const std::function<Status(const json&)>& action) {
  const std::string file = source->name();
  auto reader = parquet::FileReader::Open(std::move(source));
  if (!reader.ok()) return reader.status();
  const parquet::FileReader& r = **reader;

  std::vector<Column> columns;
  std::map<std::string, int> marker;  // action name → index in columns of its marker field
  for (size_t c = 0; c < r.column_count(); ++c) {
    const int index = static_cast<int>(c);
    Column col;
    col.index = index;
    col.type = r.column_type(index);
    col.parts = Split(r.column_path(index));
    col.repeated_def = r.repeated_def(index);
    if (col.parts.size() < 2) continue;
    bool known = false;
    for (const auto& [name, key] : kActions) known = known || col.parts[0] == name;
    // Skip what only engines use for skipping (partitionValues_parsed, stats_parsed): the
    // string forms carry the same content. Except the row count: a table written with
    // delta.checkpoint.writeStatsAsJson=false has it only in stats_parsed.
    const bool row_count = col.parts == std::vector<std::string>{"add", "stats_parsed", "numRecords"};
    if (!known || (col.parts[1].ends_with("_parsed") && !row_count)) continue;
    const size_t n = col.parts.size();
    if (r.max_rep(index) > 0) {
      if (n >= 3 && col.parts[n - 2] == "key_value" && col.parts[n - 1] == "key") {
        col.kind = Column::kMapKey;
      } else if (n >= 3 && col.parts[n - 2] == "key_value" && col.parts[n - 1] == "value") {
        col.kind = Column::kMapValue;
      } else if (n >= 3 && (col.parts[n - 2] == "list" || col.parts[n - 2] == "bag")) {
        col.kind = Column::kListElement;
      } else {
        continue;  // no repeated field of another shape is part of the checkpoint schema
      }
      col.parts.resize(n - 2);  // the map or list itself
    }
    for (const auto& [name, key] : kActions) {
      if (col.parts.size() == 2 && col.parts[0] == name && col.parts[1] == key && col.kind == Column::kScalar) {
        marker[name] = static_cast<int>(columns.size());
      }
    }
    columns.push_back(std::move(col));
  }

  for (size_t g = 0; g < r.row_group_count(); ++g) {
    const size_t rows = static_cast<size_t>(r.row_group_rows(g));
    for (auto& col : columns) {
      auto v = r.ReadColumn(g, col.index);
      if (!v.ok()) return v.status();
      col.values = std::move(v.value());
      col.row_start.clear();
      if (col.kind != Column::kScalar) {
        for (size_t k = 0; k < col.values.size(); ++k) {
          if (col.values.rep_levels[k] == 0) col.row_start.push_back(k);
        }
        col.row_start.push_back(col.values.size());
        if (col.row_start.size() != rows + 1) {
          return DataLoss("cannot read checkpoint " + file + ": column " + r.column_path(col.index) +
                          " has a different row count than its row group");
        }
      } else if (col.values.size() != rows) {
        return DataLoss("cannot read checkpoint " + file + ": column " + r.column_path(col.index) +
                        " has a different row count than its row group");
      }
    }
    for (size_t row = 0; row < rows; ++row) {
      for (const auto& [name, key] : kActions) {
        auto m = marker.find(name);
        if (m == marker.end() || !columns[static_cast<size_t>(m->second)].values.present[row]) continue;
        json out = json::object();
        for (size_t c = 0; c < columns.size(); ++c) {
          const Column& col = columns[c];
          if (col.parts[0] != name) continue;
          const json::json_pointer at = Pointer(col.parts, col.parts.size());
          if (col.kind == Column::kScalar) {
            if (col.values.present[row]) out[at] = col.Value(row);
            continue;
          }
          if (col.kind == Column::kMapValue) continue;  // taken with its key
          const size_t begin = col.row_start[row], end = col.row_start[row + 1];
          // The map or list is there (maybe empty) where the level reaches its own group.
          if (col.values.def_levels[begin] < col.repeated_def - 1) continue;
          if (col.kind == Column::kListElement) {
            json list = json::array();
            for (size_t k = begin; k < end; ++k) {
              if (col.values.def_levels[k] < col.repeated_def) continue;
              list.push_back(col.values.present[k] ? col.Value(k) : json());
            }
            out[at] = std::move(list);
            continue;
          }
          // A map: its value column is the next one.
          const Column* value = c + 1 < columns.size() && columns[c + 1].kind == Column::kMapValue ? &columns[c + 1] : nullptr;
          json map = json::object();
          for (size_t k = begin; k < end; ++k) {
            if (col.values.def_levels[k] < col.repeated_def || !col.values.present[k]) continue;
            map[std::string(col.values.string(k))] =
                value && value->values.present[k] ? json(std::string(value->values.string(k))) : json();
          }
          out[at] = std::move(map);
        }
        FHIRLAKE_RETURN_IF_ERROR(action(json{{name, out[json::json_pointer("/" + std::string(name))]}}));
      }
    }
  }
  return Status::Ok();
}

namespace {

using parquet::Group;
using parquet::Leaf;
using parquet::List;
using parquet::LogicalType;
using parquet::Repetition;
using parquet::SchemaNode;
using parquet::StringMap;
using Nodes = std::vector<std::unique_ptr<SchemaNode>>;

std::unique_ptr<SchemaNode> Str(const char* name) { return Leaf(name, PhysicalType::kByteArray, LogicalType::kString); }
std::unique_ptr<SchemaNode> Long(const char* name) { return Leaf(name, PhysicalType::kInt64); }
std::unique_ptr<SchemaNode> Int(const char* name) { return Leaf(name, PhysicalType::kInt32); }
std::unique_ptr<SchemaNode> Bool(const char* name) { return Leaf(name, PhysicalType::kBoolean); }

template <typename... T>
Nodes Fields(T... nodes) {
  Nodes v;
  (v.push_back(std::move(nodes)), ...);
  return v;
}

std::unique_ptr<SchemaNode> DeletionVectorGroup() {
  return Group("deletionVector", Fields(Str("storageType"), Str("pathOrInlineDv"), Int("offset"), Int("sizeInBytes"),
                                        Long("cardinality"), Long("maxRowIndex")));
}

// The checkpoint schema Delta (Spark) writes, minus the *_parsed columns, which are optional.
parquet::Schema CheckpointSchema() {
  Nodes top;
  top.push_back(Group("txn", Fields(Str("appId"), Long("version"), Long("lastUpdated"))));
  top.push_back(Group("add", Fields(Str("path"), StringMap("partitionValues"), Long("size"), Long("modificationTime"),
                                    Bool("dataChange"), StringMap("tags"), DeletionVectorGroup(), Long("baseRowId"),
                                    Long("defaultRowCommitVersion"), Str("stats"))));
  top.push_back(Group("remove", Fields(Str("path"), Long("deletionTimestamp"), Bool("dataChange"),
                                       Bool("extendedFileMetadata"), StringMap("partitionValues"), Long("size"),
                                       DeletionVectorGroup(), Long("baseRowId"), Long("defaultRowCommitVersion"))));
  top.push_back(Group("metaData", Fields(Str("id"), Str("name"), Str("description"),
                                         Group("format", Fields(Str("provider"), StringMap("options"))),
                                         Str("schemaString"), List("partitionColumns", Str("element")),
                                         StringMap("configuration"), Long("createdTime"))));
  top.push_back(Group("protocol", Fields(Int("minReaderVersion"), Int("minWriterVersion"),
                                         List("readerFeatures", Str("element")), List("writerFeatures", Str("element")))));
  top.push_back(Group("domainMetadata", Fields(Str("domain"), Str("configuration"), Bool("removed"))));
  return parquet::Schema(std::move(top));
}

// The Spark schema string of the checkpoint (for _last_checkpoint.checkpointSchema).
json SparkCheckpointType(const SchemaNode& n) {
  if (n.logical == LogicalType::kList) {
    return {{"type", "array"}, {"elementType", SparkCheckpointType(n.list_element())}, {"containsNull", true}};
  }
  if (n.logical == LogicalType::kMap) {
    return {{"type", "map"}, {"keyType", "string"}, {"valueType", "string"}, {"valueContainsNull", true}};
  }
  if (!n.is_leaf) {
    json fields = json::array();
    for (const auto& c : n.children) {
      fields.push_back({{"name", c->name}, {"type", SparkCheckpointType(*c)}, {"nullable", true}, {"metadata", json::object()}});
    }
    return {{"type", "struct"}, {"fields", fields}};
  }
  switch (n.type) {
    case PhysicalType::kBoolean: return "boolean";
    case PhysicalType::kInt32: return "integer";
    case PhysicalType::kInt64: return "long";
    default: return "string";
  }
}

// Writes the leaves under `node` for the JSON value `v` (null or absent: a null at `def`, the
// level of the innermost present ancestor). `rep` is the repetition level of this value.
void Shred(const SchemaNode& node, const json* v, uint16_t rep, uint16_t def, parquet::FileWriter& w) {
  auto nulls = [&](uint16_t level) {
    if (node.is_leaf) {
      w.column(static_cast<size_t>(node.leaf_index)).AddNull(rep, level);
    } else {
      for (int leaf : node.leaves) w.column(static_cast<size_t>(leaf)).AddNull(rep, level);
    }
  };
  const bool present = v && !v->is_null();
  if (!present) {
    nulls(def);
    return;
  }
  const uint16_t here = static_cast<uint16_t>(node.repetition == Repetition::kRequired ? def : def + 1);
  if (node.is_leaf) {
    auto& c = w.column(static_cast<size_t>(node.leaf_index));
    switch (node.type) {
      case PhysicalType::kBoolean: c.AddBool(rep, v->is_boolean() ? v->get<bool>() : false); break;
      case PhysicalType::kInt32: c.AddInt32(rep, v->is_number() ? v->get<int32_t>() : 0); break;
      case PhysicalType::kInt64: c.AddInt64(rep, v->is_number() ? v->get<int64_t>() : 0); break;
      case PhysicalType::kDouble: c.AddDouble(rep, v->is_number() ? v->get<double>() : 0); break;
      case PhysicalType::kByteArray: c.AddBytes(rep, v->is_string() ? v->get_ref<const std::string&>() : v->dump()); break;
      case PhysicalType::kFixedLenByteArray: break;  // no checkpoint column has this type
    }
    return;
  }
  if (node.logical == LogicalType::kList || node.logical == LogicalType::kMap) {
    const SchemaNode& entry = *node.children[0];  // the repeated group
    const uint16_t entry_rep = static_cast<uint16_t>(entry.max_rep);
    size_t count = 0;
    auto each = [&](const json* key, const json& value) {
      const uint16_t r = count++ == 0 ? rep : entry_rep;
      const uint16_t entry_def = static_cast<uint16_t>(here + 1);
      if (key) {
        w.column(static_cast<size_t>(entry.children[0]->leaf_index)).AddBytes(r, key->get_ref<const std::string&>());
        Shred(*entry.children[1], &value, r, entry_def, w);
      } else {
        Shred(*entry.children[0], &value, r, entry_def, w);
      }
    };
    if (node.logical == LogicalType::kMap && v->is_object()) {
      for (const auto& [k, val] : v->items()) {
        json key = k;
        each(&key, val);
      }
    } else if (node.logical == LogicalType::kList && v->is_array()) {
      for (const auto& val : *v) each(nullptr, val);
    }
    if (count == 0) {
      for (int leaf : node.leaves) w.column(static_cast<size_t>(leaf)).AddNull(rep, here);
    }
    return;
  }
  for (const auto& child : node.children) {
    const json* cv = v->is_object() && v->contains(child->name) ? &(*v)[child->name] : nullptr;
    Shred(*child, cv, rep, here, w);
  }
}

// Delta's interval strings ("interval 1 week", "INTERVAL 7 DAYS", "interval 4 weeks 2 days",
// "168 hours") in ms, read as Delta reads them: case-insensitive, every "N unit" pair summed.
// `fallback` for text that is not such an interval.
int64_t IntervalMillis(const std::string& text, int64_t fallback) {
  std::string t;
  for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::istringstream in(t);
  std::string word;
  if (!(in >> word)) return fallback;
  if (word != "interval") in.seekg(0);
  int64_t total = 0;
  int pairs = 0;
  long long n = 0;
  while (in >> n) {
    if (!(in >> word)) return fallback;
    if (word.size() > 1 && word.back() == 's') word.pop_back();
    const int64_t ms = word == "week" ? 604800000 : word == "day" ? 86400000 : word == "hour" ? 3600000
                       : word == "minute" ? 60000 : word == "second" ? 1000 : word == "millisecond" ? 1 : -1;
    if (ms < 0 || n < 0 || n > std::numeric_limits<int64_t>::max() / ms / 8) return fallback;
    total += n * ms;
    ++pairs;
  }
  if (!in.eof() || pairs == 0) return fallback;
  return total;
}

std::string UriEncodePath(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || std::strchr("-._~/=+:@!$&'()*,;", c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

int64_t TombstoneRetentionMillis(const Snapshot& snapshot) {
  auto it = snapshot.configuration.find("delta.deletedFileRetentionDuration");
  return IntervalMillis(it == snapshot.configuration.end() ? "" : it->second, 7 * 86400000LL);
}

int64_t LogRetentionMillis(const Snapshot& snapshot) {
  auto it = snapshot.configuration.find("delta.logRetentionDuration");
  return IntervalMillis(it == snapshot.configuration.end() ? "" : it->second, 30 * 86400000LL);
}

std::string EncodeActionPath(const std::string& path) { return UriEncodePath(path); }

json DeletionVectorJson(const DeletionVector& dv) {
  json d = {{"storageType", dv.storage_type}, {"pathOrInlineDv", dv.path_or_inline_dv},
            {"sizeInBytes", dv.size_in_bytes}, {"cardinality", dv.cardinality}};
  if (dv.offset) d["offset"] = *dv.offset;
  return d;
}

void PutPartitionValuesAndTags(const AddFile& file, json& action) {
  json values = json::object();
  for (const auto& [column, value] : file.partition_values) values[column] = value ? json(*value) : json();
  action["partitionValues"] = std::move(values);
  if (!file.tags.empty()) action["tags"] = file.tags;
}

std::string DecodeActionPath(const std::string& path) {
  if (path.find('%') == std::string::npos) return path;
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && std::isxdigit(static_cast<unsigned char>(path[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(path[i]);
    }
  }
  return out;
}

Status WriteCheckpoint(const fs::path& root, const Snapshot& snap, int64_t now_ms) {
  auto local = store::NewLocalStore(root.string());
  return WriteCheckpoint(*local, "", snap, now_ms);
}

Status WriteCheckpoint(store::ObjectStore& store, std::string_view table_key, const Snapshot& snap, int64_t now_ms) {
  if (snap.version < 0) return InvalidArgument("a table without a version has no checkpoint");
  const std::string log = store::WarehouseLayout::DeltaLog(table_key);
  const parquet::Schema schema = CheckpointSchema();
  const std::string target = store::WarehouseLayout::Join(log, CheckpointFileName(snap.version));
  parquet::WriterOptions options;
  options.column.compression = parquet::Compression::kSnappy;
  options.created_by = "fhirlake version 0.1.0";
  auto sink = OpenObjectSink(store, target);
  if (!sink.ok()) return sink.status();
  auto writer = parquet::FileWriter::Open(std::move(sink.value()), schema, options);
  if (!writer.ok()) return writer.status();
  parquet::FileWriter& w = **writer;

  int64_t actions = 0, adds = 0;
  Status failed;
  auto emit = [&](const char* name, const json& body) {
    if (!failed.ok()) return;
    for (const auto& child : schema.root().children) {
      const json* v = child->name == name ? &body : nullptr;
      Shred(*child, v, 0, 0, w);
    }
    ++actions;
    failed = w.EndRow();
  };

  json protocol = {{"minReaderVersion", snap.protocol.min_reader_version},
                   {"minWriterVersion", snap.protocol.min_writer_version}};
  if (snap.protocol.reader_features) protocol["readerFeatures"] = *snap.protocol.reader_features;
  if (snap.protocol.writer_features) protocol["writerFeatures"] = *snap.protocol.writer_features;
  emit("protocol", protocol);
  json metadata = {{"id", snap.table_id},
                   {"format", {{"provider", "parquet"}, {"options", snap.format_options}}},
                   {"schemaString", snap.schema_string},
                   {"partitionColumns", snap.partition_columns},
                   {"configuration", snap.configuration}};
  if (snap.table_name) metadata["name"] = *snap.table_name;
  if (snap.table_description) metadata["description"] = *snap.table_description;
  if (snap.created_time) metadata["createdTime"] = *snap.created_time;
  emit("metaData", metadata);
  for (const auto& [app, version] : snap.app_versions) {
    json txn = {{"appId", app}, {"version", version}};
    auto lu = snap.app_last_updated.find(app);
    if (lu != snap.app_last_updated.end()) txn["lastUpdated"] = lu->second;
    emit("txn", txn);
  }
  for (const AddFile& f : snap.files) {
    json add = {{"path", UriEncodePath(f.path)}, {"size", f.size}, {"modificationTime", f.modification_time},
                {"dataChange", false}};
    PutPartitionValuesAndTags(f, add);
    if (!f.stats_json.empty()) add["stats"] = f.stats_json;
    if (f.deletion_vector) add["deletionVector"] = DeletionVectorJson(*f.deletion_vector);
    emit("add", add);
    ++adds;
  }
  const int64_t horizon = now_ms - TombstoneRetentionMillis(snap);
  for (const RemovedFile& f : snap.tombstones) {
    if (f.deletion_timestamp < horizon) continue;  // expired: no retained version needs it
    json remove = {{"path", UriEncodePath(f.path)}, {"deletionTimestamp", f.deletion_timestamp},
                   {"dataChange", false}, {"extendedFileMetadata", false}, {"size", f.size}};
    if (f.deletion_vector) remove["deletionVector"] = DeletionVectorJson(*f.deletion_vector);
    emit("remove", remove);
  }
  if (!failed.ok()) return failed;
  Status closed = w.Close();
  if (!closed.ok()) return closed.WithContext("cannot write checkpoint " + store.Describe() + "/" + target);
  const int64_t bytes = static_cast<int64_t>(w.bytes_written());
  writer->reset();
  json last = {{"version", snap.version}, {"size", actions}, {"sizeInBytes", bytes}, {"numOfAddFiles", adds},
               {"checkpointSchema", SparkCheckpointType(schema.root())}};
  return store.Put(store::WarehouseLayout::Join(log, kLastCheckpointName), last.dump());
}

}  // namespace fhirlake::delta
