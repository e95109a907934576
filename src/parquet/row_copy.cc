#include "fhirlake/parquet/row_copy.h"

#include <cstring>
#include <string>

namespace fhirlake::parquet {
namespace {

std::string Dotted(const SchemaNode& leaf) {
  std::string dotted;
  for (const std::string& part : leaf.path) {
    if (!dotted.empty()) dotted += '.';
    dotted += part;
  }
  return dotted;
}

// Adds present value `v` (as PageValues holds it) of a leaf of `type` to `column`.
void AddValue(ColumnWriter& column, PhysicalType type, uint16_t rep, const PageValues& page, size_t v) {
  switch (type) {
    case PhysicalType::kBoolean: column.AddBool(rep, page.ints[v] != 0); break;
    case PhysicalType::kInt32: column.AddInt32(rep, static_cast<int32_t>(page.ints[v])); break;
    case PhysicalType::kInt64: column.AddInt64(rep, page.ints[v]); break;
    case PhysicalType::kDouble: {
      double d;
      std::memcpy(&d, &page.ints[v], sizeof d);
      column.AddDouble(rep, d);
      break;
    }
    case PhysicalType::kByteArray: column.AddBytes(rep, page.strings[v]); break;
    case PhysicalType::kFixedLenByteArray: column.AddFixed(rep, page.strings[v]); break;
  }
}

// Where a column's walk through a row group is, from page to page.
struct Walk {
  int64_t rows = 0;      // the row group's
  int64_t row = -1;      // the row the walk is in
  bool keeping = false;  // whether that row is kept
  size_t pending = 0;    // level-0 nulls of kept rows not yet written
};

// The kept levels and values of one data page of levels (not a page of null rows) to `out`.
// false: the page has more rows than the row group. One instance for columns with a
// repeated ancestor and one for those without, where every level starts a row.
template <bool kRepeated>
bool CopyPage(const PageValues& page, PhysicalType type, const std::vector<uint8_t>& keep, Walk& walk,
              ColumnWriter& out) {
  const uint32_t* const reps = kRepeated ? page.reps.data() : nullptr;
  const uint32_t* const defs = page.defs.data();
  const auto max_def = static_cast<uint32_t>(page.max_def);
  size_t value = 0;
  // Kept levels of missing values inside rows (an absent element of a list, say) go to the
  // writer a stretch at a time: levels [nulls_from, nulls_from + nulls).
  size_t nulls_from = 0, nulls = 0;
  auto write_nulls = [&] {
    if (nulls == 0) return;
    out.AddNulls(reps ? reps + nulls_from : nullptr, defs + nulls_from, nulls);
    nulls = 0;
  };
  for (size_t i = 0; i < page.size(); ++i) {
    const uint32_t rep = kRepeated ? reps[i] : 0;
    const uint32_t def = defs[i];
    if (rep == 0) {
      if (++walk.row >= walk.rows) return false;
      walk.keeping = keep[static_cast<size_t>(walk.row)] != 0;
    }
    const bool present = def == max_def;
    if (!walk.keeping) {
      write_nulls();
      value += present;
      continue;
    }
    if (rep == 0 && def == 0 && !present) {
      write_nulls();
      ++walk.pending;
      continue;
    }
    if (walk.pending > 0) {
      out.AddNullRows(0, walk.pending);
      walk.pending = 0;
    }
    if (!present) {
      if (nulls == 0) nulls_from = i;
      ++nulls;
      continue;
    }
    write_nulls();
    AddValue(out, type, static_cast<uint16_t>(rep), page, value++);
  }
  write_nulls();
  return true;
}

// Copies the kept rows of one column chunk. Level-0 nulls of kept rows are held as a count and
// written as one run before the column's next level; those at the end are left to the
// writer, which pads a column's missing rows with them.
// `kept_before[r]`: the kept rows before row r.
Status CopyColumn(const FileReader& reader, size_t group, int column, const std::vector<uint8_t>& keep,
                  const std::vector<uint32_t>& kept_before, ColumnWriter& out) {
  const PhysicalType type = reader.column_type(column);
  Walk walk;
  walk.rows = reader.row_group_rows(group);
  auto too_many_rows = [&] { return DataLoss("column " + reader.column_path(column) + " has more rows than its row group"); };
  FHIRLAKE_RETURN_IF_ERROR(reader.ForEachPage(group, column, [&](const PageValues& page) -> Status {
    if (page.null_rows > 0) {
      if (page.null_rows > static_cast<uint64_t>(walk.rows - 1 - walk.row)) return too_many_rows();
      const auto from = static_cast<size_t>(walk.row + 1);
      walk.row += static_cast<int64_t>(page.null_rows);
      walk.pending += kept_before[static_cast<size_t>(walk.row) + 1] - kept_before[from];
      walk.keeping = keep[static_cast<size_t>(walk.row)] != 0;
      return Status::Ok();
    }
    const bool copied = page.reps.empty() ? CopyPage<false>(page, type, keep, walk, out)
                                          : CopyPage<true>(page, type, keep, walk, out);
    return copied ? Status::Ok() : too_many_rows();
  }, /*null_pages=*/true));
  if (walk.row + 1 != walk.rows) return DataLoss("column " + reader.column_path(column) + " has fewer rows than its row group");
  return Status::Ok();
}

}  // namespace

bool SameColumns(const FileReader& reader, const Schema& schema) {
  const auto& leaves = schema.leaves();
  if (reader.column_count() != leaves.size()) return false;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const SchemaNode& leaf = *leaves[i];
    const int c = static_cast<int>(i);
    const int type_length = leaf.type == PhysicalType::kFixedLenByteArray ? leaf.type_length : 0;
    if (reader.column_type(c) != leaf.type || reader.column_type_length(c) != type_length ||
        reader.max_def(c) != leaf.max_def || reader.max_rep(c) != leaf.max_rep || reader.column_path(c) != Dotted(leaf)) {
      return false;
    }
  }
  return true;
}

Result<uint64_t> CopyRows(FileReader& reader, size_t group, const std::vector<uint8_t>& keep, FileWriter& writer) {
  if (group >= reader.row_group_count()) return InvalidArgument("no such row group");
  const auto rows = static_cast<size_t>(reader.row_group_rows(group));
  if (keep.size() != rows) return InvalidArgument("the rows to keep do not match the row group");
  std::vector<uint32_t> kept_before(rows + 1, 0);
  for (size_t r = 0; r < rows; ++r) kept_before[r + 1] = kept_before[r] + (keep[r] != 0);
  const uint64_t kept = kept_before[rows];
  if (kept == 0) return uint64_t{0};
  FHIRLAKE_RETURN_IF_ERROR(reader.LoadRowGroup(group));
  const size_t n = writer.column_count();
  std::vector<Status> status(n);
  auto copy = [&](size_t c) {
    status[c] = CopyColumn(reader, group, static_cast<int>(c), keep, kept_before, writer.column(c));
  };
  if (writer.parallel()) {
    std::vector<uint64_t> cost(n);
    for (size_t c = 0; c < n; ++c) cost[c] = static_cast<uint64_t>(reader.chunk_bytes(group, static_cast<int>(c)));
    writer.parallel()->RunCostliestFirst(cost, copy);
  } else {
    for (size_t c = 0; c < n; ++c) copy(c);
  }
  for (const Status& s : status) FHIRLAKE_RETURN_IF_ERROR(s);
  FHIRLAKE_RETURN_IF_ERROR(writer.EndRows(kept));
  return kept;
}

}  // namespace fhirlake::parquet
