// Named points in a long operation where `FHIRLAKE_TEST_CRASH=<name>` ends the process at once
// (exit 86, no cleanup), as a kill at that moment would. Crash-safety tests and recovery drills
// use them; without the variable they cost one getenv.
//   load:   before-commit, after-commit        sync: export-waiting, export-downloading,
//   import: import-after-export                      after-export, after-load, after-archive,
//                                                    archive-uploading (s3://), after-state
#pragma once

namespace fhirlake::store {

void CrashPoint(const char* name);

}  // namespace fhirlake::store
