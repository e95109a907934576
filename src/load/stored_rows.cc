#include "fhirlake/load/stored_rows.h"

#include "fhirlake/delta/deletion_vector.h"
#include "fhirlake/delta/object_files.h"
#include "fhirlake/parquet/file_reader.h"

namespace fhirlake::load {

Status ForEachStoredJson(const std::filesystem::path& path, const std::vector<uint64_t>& gone,
                         const std::function<Status(std::string_view json)>& row,
                         const std::function<bool()>& stop) {
  auto source = parquet::OpenFileSource(path);
  if (!source.ok()) return source.status();
  return ForEachStoredJson(std::move(source.value()), gone, row, stop);
}

namespace {

// The rows of the file that `gone` does not drop: `_json` and, with `times`, meta.lastUpdated.
Status Walk(std::unique_ptr<parquet::InputSource> source, const std::vector<uint64_t>& gone, bool times,
            const std::function<Status(std::string_view json, std::optional<int64_t> last_updated)>& row,
            const std::function<bool()>& stop) {
  const std::string path = source->name();
  auto reader = parquet::FileReader::Open(std::move(source));
  if (!reader.ok()) return reader.status();
  const int json_col = (*reader)->FindColumn("_json");
  if (json_col < 0) return DataLoss(path + " has no _json column");
  const int time_col = times ? (*reader)->FindColumn("meta.lastUpdated") : -1;
  size_t next_gone = 0;
  uint64_t number = 0;
  for (size_t g = 0; g < (*reader)->row_group_count(); ++g) {
    if (stop && stop()) return Cancelled("cancelled");
    parquet::ColumnValues last_updated;
    if (time_col >= 0) {
      auto t = (*reader)->ReadColumn(g, time_col);
      if (!t.ok()) return t.status();
      last_updated = std::move(t.value());
    }
    // `_json` a page at a time: a row group's text would be tens of MB in memory at once.
    size_t in_group = 0;  // rows of the row group walked
    FHIRLAKE_RETURN_IF_ERROR((*reader)->ForEachPage(g, json_col, [&](const parquet::PageValues& page) -> Status {
      size_t next = 0;
      for (size_t i = 0; i < page.size(); ++i, ++number, ++in_group) {
        const bool here = page.present(i);
        const std::string_view json = here ? page.strings[next++] : std::string_view();
        if (next_gone < gone.size() && gone[next_gone] == number) {
          ++next_gone;
          continue;
        }
        if (!here) return DataLoss(path + " has a row without _json");
        std::optional<int64_t> time;
        if (time_col >= 0 && in_group < last_updated.size() && last_updated.present[in_group]) {
          time = last_updated.ints[in_group];
        }
        FHIRLAKE_RETURN_IF_ERROR(row(json, time));
      }
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

}  // namespace

Status ForEachStoredJson(std::unique_ptr<parquet::InputSource> source, const std::vector<uint64_t>& gone,
                         const std::function<Status(std::string_view json)>& row,
                         const std::function<bool()>& stop) {
  return Walk(std::move(source), gone, false, [&](std::string_view json, std::optional<int64_t>) { return row(json); },
              stop);
}

Status ForEachStoredRow(std::unique_ptr<parquet::InputSource> source, const std::vector<uint64_t>& gone,
                        const std::function<Status(std::string_view json, std::optional<int64_t> last_updated)>& row,
                        const std::function<bool()>& stop) {
  return Walk(std::move(source), gone, true, row, stop);
}

Result<std::vector<uint64_t>> DeletedRowsOf(const delta::Table& table, const delta::AddFile& add) {
  if (!add.deletion_vector) return std::vector<uint64_t>();
  return delta::ReadDeletionVector(table.store(), table.key(), *add.deletion_vector);
}

Status ForEachLiveJson(const delta::Table& table, const delta::AddFile& add,
                       const std::function<Status(std::string_view json)>& row, const std::function<bool()>& stop) {
  auto gone = DeletedRowsOf(table, add);
  if (!gone.ok()) return gone.status();
  return ForEachStoredJson(delta::OpenObjectSource(table.store(), table.Key(add.path)), *gone, row, stop);
}

}  // namespace fhirlake::load
