// A Delta table's log: the actions of a commit file (protocol, metaData, add, remove, txn,
// commitInfo), replayed into a snapshot.
#include <cstddef>
#include <cstdint>

#include "fhirlake/delta/table.h"
#include "fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto commit = fhirlake::fuzz::WriteInput("table/_delta_log/00000000000000000000.json", data, size);
  fhirlake::delta::Table table(commit.parent_path().parent_path());
  (void)table.Load();
  (void)table.CommitInfos();
  return 0;
}
