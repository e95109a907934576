// Synthetic, referentially consistent FHIR R4 NDJSON for tests, the demo and benchmarks:
// Patients with their Encounters, Conditions, Observations (vital signs with valueQuantity
// decimals, blood pressure components, smoking status as valueCodeableConcept),
// MedicationRequests, Procedures and Immunizations, plus the Practitioners and Organizations
// they reference. US Core race/ethnicity extensions and a primitive extension (_birthDate).
// meta.lastUpdated is spread over 2021–2024. The same seed always gives the same bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "fhirlake/status.h"

namespace fhirlake::fhir {

struct SampleOptions {
  uint64_t patients = 100;
  uint64_t seed = 1;
  uint64_t resources_per_file = 100'000;  // a type's output rolls over to <Type>.<nnn+1>.ndjson
};

struct SampleSummary {
  std::map<std::string, uint64_t> resources;  // per type
  uint64_t bytes = 0;
  uint64_t files = 0;
};

// Writes <Type>.<nnn>.ndjson files into `out_dir` (created if missing).
Result<SampleSummary> GenerateSample(const std::filesystem::path& out_dir, const SampleOptions& options);

}  // namespace fhirlake::fhir
