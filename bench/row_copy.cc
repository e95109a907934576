// What keeping a data file's rows costs in a copy-on-write merge, by way and by step: every
// row but each 40th of the given data file (one of a table's own, e.g. Observation) copied
// into a new file a column at a time (parquet::CopyRows), against the same rows' `_json`
// shredded again; and the parts: reading every column's pages, reading `_json` only.
// Prints CPU seconds per way (best of the runs) and µs per row.
//   row_copy FILE.parquet [RESOURCE_TYPE] [RUNS]
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <string>

#include "fhirlake/fhir/ndjson_reader.h"
#include "fhirlake/load/json_shredder.h"
#include "fhirlake/load/stored_rows.h"
#include "fhirlake/load/table_schema.h"
#include "fhirlake/parquet/file_reader.h"
#include "fhirlake/parquet/row_copy.h"

namespace {

using namespace fhirlake;

double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void Check(const Status& s) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s\n", s.message().c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: row_copy FILE.parquet [RESOURCE_TYPE] [RUNS]\n");
    return 2;
  }
  const std::string path = argv[1];
  const std::string type = argc > 2 ? argv[2] : "Observation";
  const int runs = argc > 3 ? std::atoi(argv[3]) : 3;
  const parquet::Schema schema = load::BuildTableSchema(type);
  const std::string out = (std::filesystem::temp_directory_path() / "fhirlake-row-copy.parquet").string();
  uint64_t rows = 0;
  std::vector<uint64_t> gone;
  {
    auto reader = parquet::FileReader::Open(path);
    Check(reader.status());
    rows = static_cast<uint64_t>((*reader)->rows());
    if (!parquet::SameColumns(**reader, schema)) {
      std::fprintf(stderr, "%s does not have the columns of a %s table\n", path.c_str(), type.c_str());
      return 1;
    }
  }
  for (uint64_t r = 0; r < rows; r += 40) gone.push_back(r);
  const uint64_t kept = rows - gone.size();

  auto by_columns = [&] {
    auto reader = parquet::FileReader::Open(path).value();
    auto writer = parquet::FileWriter::Open(out, schema).value();
    uint64_t first = 0;
    for (size_t g = 0; g < reader->row_group_count(); ++g) {
      const auto n = static_cast<uint64_t>(reader->row_group_rows(g));
      std::vector<uint8_t> keep(n, 1);
      for (uint64_t r : gone) {
        if (r >= first && r < first + n) keep[r - first] = 0;
      }
      Check(parquet::CopyRows(*reader, g, keep, *writer).status());
      first += n;
    }
    Check(writer->Close());
  };
  auto by_json = [&] {
    auto writer = parquet::FileWriter::Open(out, schema).value();
    load::JsonShredder shredder(schema, *writer, {"_json"});
    const size_t json_leaf = schema.leaves().size() - 1;
    std::string padded;
    Check(load::ForEachStoredJson(path, gone, [&](std::string_view line) {
      padded.assign(line);
      padded.append(fhir::NdjsonReader::kPadding, '\0');
      FHIRLAKE_RETURN_IF_ERROR(shredder.ShredRow(std::string_view(padded.data(), line.size())));
      writer->column(json_leaf).AddBytes(0, line);
      return writer->EndRow();
    }));
    Check(writer->Close());
  };
  auto read_all = [&] {
    auto reader = parquet::FileReader::Open(path).value();
    for (size_t g = 0; g < reader->row_group_count(); ++g) {
      Check(reader->LoadRowGroup(g));
      for (size_t c = 0; c < reader->column_count(); ++c) {
        Check(reader->ForEachPage(g, static_cast<int>(c), [](const parquet::PageValues&) { return Status::Ok(); }, true));
      }
    }
  };
  auto read_json = [&] { Check(load::ForEachStoredJson(path, gone, [](std::string_view) { return Status::Ok(); })); };

  std::printf("%s: %llu rows, %llu kept, %zu columns\n", path.c_str(), static_cast<unsigned long long>(rows),
              static_cast<unsigned long long>(kept), schema.leaves().size());
  for (auto [name, work] : {std::pair<const char*, std::function<void()>>{"copy by column", by_columns},
                            {"re-shred _json", by_json},
                            {"read every column", read_all},
                            {"read _json", read_json}}) {
    double best = 1e9;
    for (int i = 0; i < runs; ++i) {
      const double t0 = CpuSeconds();
      work();
      best = std::min(best, CpuSeconds() - t0);
    }
    std::printf("  %-18s %.3f s CPU  %.2f us/row\n", name, best, best * 1e6 / static_cast<double>(kept));
  }
  std::filesystem::remove(out);
  return 0;
}
