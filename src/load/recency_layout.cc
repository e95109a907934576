#include "fhirlake/load/recency_layout.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "fhirlake/fhir/date_time.h"
#include "fhirlake/fhir/ndjson_reader.h"

namespace fhirlake::load {
namespace {

using nlohmann::json;

// stats.<which>.meta.lastUpdated of a file's parsed add.stats, or null.
const json* StatsEntry(const json& stats, const char* which) {
  if (!stats.is_object()) return nullptr;
  auto it = stats.find(which);
  if (it == stats.end() || !it->is_object()) return nullptr;
  auto meta = it->find("meta");
  if (meta == it->end() || !meta->is_object()) return nullptr;
  auto lu = meta->find("lastUpdated");
  return lu == meta->end() ? nullptr : &*lu;
}

std::optional<int64_t> StatsTime(const json& stats, const char* which) {
  const json* lu = StatsEntry(stats, which);
  if (!lu || !lu->is_string()) return std::nullopt;
  return fhir::ParseFhirTime(lu->get<std::string>());
}

std::optional<int64_t> StatsLastUpdated(const delta::AddFile& file, const char* which) {
  if (file.stats_json.empty()) return std::nullopt;
  return StatsTime(json::parse(file.stats_json, nullptr, false), which);
}

// Row groups for small files: a file ends at the first row group past its target, so a row
// group much larger than the file would make every recent file as large as the row group. The
// limit is on encoded bytes before compression (about 4-10x the bytes written for FHIR data);
// smaller row groups than this compress markedly worse. Recent files are written again by most
// merges, so their pages are compressed at zstd level 1 (at most): on the bench table 1 % more
// bytes than level 3 for a seventh fewer instructions (README, "Merges and the file layout").
parquet::WriterOptions RecentWriterOptions(parquet::WriterOptions options, uint64_t recent_file_bytes) {
  options.row_group_bytes = std::max<size_t>(1u << 20, std::min<size_t>(options.row_group_bytes, recent_file_bytes * 4));
  options.column.zstd_level = std::min(options.column.zstd_level, 1);
  return options;
}

}  // namespace

std::optional<int64_t> MaxLastUpdated(const delta::AddFile& file) { return StatsLastUpdated(file, "maxValues"); }
std::optional<int64_t> MinLastUpdated(const delta::AddFile& file) { return StatsLastUpdated(file, "minValues"); }

RecencyLayout LayoutForFullWrite(std::vector<int64_t> times, uint64_t input_bytes, const RecencyLayoutOptions& options) {
  RecencyLayout layout{options.target_file_bytes, options.recent_file_bytes, RecencyLayout::kNothingRecent};
  if (options.target_file_bytes == 0 || options.recent_file_bytes == 0 || options.recent_fraction <= 0 ||
      input_bytes < options.recent_file_bytes || times.empty()) {
    return layout;
  }
  // The first of the newest recent_fraction of the rows; rows of the same instant go together.
  const size_t recent = std::min(times.size(), static_cast<size_t>(static_cast<double>(times.size()) * options.recent_fraction) + 1);
  auto nth = times.end() - static_cast<std::ptrdiff_t>(recent);
  std::nth_element(times.begin(), nth, times.end());
  layout.recent_from = std::max(*nth, RecencyLayout::kAllRecent + 1);  // rows without a time stay older
  return layout;
}

std::optional<RecencyLayout> LayoutForMerge(const std::vector<delta::AddFile>& table_files,
                                            const RecencyLayoutOptions& options) {
  if (options.target_file_bytes == 0 || options.recent_file_bytes == 0) {
    return RecencyLayout{options.target_file_bytes, options.recent_file_bytes, RecencyLayout::kNothingRecent};
  }
  bool big = false;
  int64_t newest = RecencyLayout::kAllRecent;
  for (const delta::AddFile& f : table_files) {
    if (static_cast<uint64_t>(f.size) < options.recent_file_bytes) continue;
    big = true;
    // Stats keep milliseconds, rounded down: the file's rows are before max + 1 ms.
    if (auto t = MaxLastUpdated(f)) newest = std::max(newest, *t + 1000);
  }
  if (!big) return std::nullopt;
  return RecencyLayout{options.target_file_bytes, options.recent_file_bytes, newest};
}

LayoutFiles::LayoutFiles(const delta::Table& table, const parquet::Schema& schema, const parquet::WriterOptions& options,
                         const RecencyLayout& layout)
    : layout_(layout),
      older_(table, schema, options, layout.target_file_bytes),
      recent_(table, schema, RecentWriterOptions(options, layout.recent_file_bytes), layout.recent_file_bytes) {}

bool LayoutFiles::IsRecent(std::string_view line) {
  if (layout_.recent_from == RecencyLayout::kNothingRecent) return false;
  if (layout_.recent_from == RecencyLayout::kAllRecent) return true;
  simdjson::ondemand::document doc;
  simdjson::padded_string_view padded(line.data(), line.size(), line.size() + fhir::NdjsonReader::kPadding);
  if (parser_.iterate(padded).get(doc)) return false;
  std::string_view text;
  if (doc["meta"]["lastUpdated"].get_string().get(text)) return false;  // no time: oldest
  auto t = fhir::ParseFhirTime(text);
  return t && *t >= layout_.recent_from;
}

std::optional<bool> LayoutFiles::TierOf(const delta::AddFile& file) const {
  if (layout_.recent_from == RecencyLayout::kNothingRecent) return false;
  if (file.stats_json.empty()) return std::nullopt;
  const json stats = json::parse(file.stats_json, nullptr, false);
  // Stats keep milliseconds, rounded down: every row is before max + 1 ms, none before min.
  // Rows without a time are older.
  const auto max = StatsTime(stats, "maxValues");
  if (layout_.recent_from != RecencyLayout::kAllRecent && max && *max + 1000 <= layout_.recent_from) return false;
  const auto min = StatsTime(stats, "minValues");
  const json* nulls = StatsEntry(stats, "nullCount");
  if (min && *min >= layout_.recent_from && nulls && nulls->is_number_integer() && nulls->get<int64_t>() == 0) return true;
  return std::nullopt;
}

Status LayoutFiles::Copy(bool recent, parquet::FileReader& reader, size_t group, const std::vector<uint8_t>& keep,
                         uint64_t& copied) {
  auto n = (recent ? recent_ : older_).Copy(reader, group, keep);
  if (!n.ok()) return n.status();
  copied += *n;
  return Status::Ok();
}

bool LayoutFiles::IsRecent(int64_t last_updated) const {
  if (layout_.recent_from == RecencyLayout::kNothingRecent) return false;
  return layout_.recent_from == RecencyLayout::kAllRecent || last_updated >= layout_.recent_from;
}

Status LayoutFiles::Add(std::string_view line, JsonShredder::RowInfo* check, Status* refused) {
  return (IsRecent(line) ? recent_ : older_).Add(line, check, refused);
}

Status LayoutFiles::Add(std::string_view line, int64_t last_updated, JsonShredder::RowInfo* check, Status* refused) {
  return (IsRecent(last_updated) ? recent_ : older_).Add(line, check, refused);
}

Status LayoutFiles::Close() {
  FHIRLAKE_RETURN_IF_ERROR(older_.Close());
  return recent_.Close();
}

std::vector<delta::AddFile> LayoutFiles::Adds() const {
  std::vector<delta::AddFile> adds = older_.Adds();
  for (auto& add : recent_.Adds()) adds.push_back(std::move(add));
  return adds;
}

Status LayoutFiles::JoinSmallFiles(const std::vector<LayoutFiles*>& parts, uint64_t below, LayoutFiles& into) {
  for (DataFiles LayoutFiles::*tier : {&LayoutFiles::older_, &LayoutFiles::recent_}) {
    // A writer's files end at the first row group past the tier's target: those under it are
    // the last each writer finished. They are joined; files of the target size are not.
    const uint64_t target = (into.*tier).target_file_bytes();
    const uint64_t limit = target > 0 ? std::min(below, target) : below;
    size_t small = 0;
    for (const LayoutFiles* part : parts) small += (part->*tier).SmallFiles(limit);
    if (small < 2) continue;
    for (LayoutFiles* part : parts) FHIRLAKE_RETURN_IF_ERROR((part->*tier).MoveSmallFilesInto(into.*tier, limit));
  }
  return into.Close();
}

void LayoutFiles::Keep() {
  older_.Keep();
  recent_.Keep();
}

}  // namespace fhirlake::load
