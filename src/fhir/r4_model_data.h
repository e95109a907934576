// The derived FHIR R4 type model as JSON text in chunks (see tools/derive_fhir_model.py).
#pragma once

#include <cstddef>

namespace fhirlake::fhir {

extern const char* const kR4ModelChunks[];
extern const size_t kR4ModelChunkCount;

}  // namespace fhirlake::fhir
