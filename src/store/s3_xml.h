// Reading the small XML documents S3 answers with (ListBucketResult, Error,
// InitiateMultipartUploadResult): element texts by tag name, entities decoded. S3's documents
// are flat and machine-written; this is not a general XML parser and is not meant to be one.
// Internal to the store module.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"
#include "fhirlake/store/object_store.h"

namespace fhirlake::store {

// The raw (undecoded) contents of every <tag>...</tag> in `doc`, in order; an element written
// as <tag/> gives an empty string. Elements of the same name must not nest (true of S3's).
std::vector<std::string_view> XmlElements(std::string_view doc, std::string_view tag);

// The decoded text of the first <tag> element, or nullopt.
std::optional<std::string> XmlText(std::string_view doc, std::string_view tag);

// The objects of a ListObjectsV2 answer (ListBucketResult) whose keys start with `root_prefix`,
// keys relative to it, and the continuation token when the listing is truncated. kServer when
// an object's Size is not a number or a truncated listing has no NextContinuationToken.
Result<ListPage> ParseListObjectsV2(std::string_view body, std::string_view root_prefix);

// The Code and Message of an S3 <Error> body (either empty when absent). S3 may put one in a
// 200 answer to CompleteMultipartUpload.
struct S3ErrorBody {
  std::string code;
  std::string message;
};
S3ErrorBody ParseErrorBody(std::string_view body);

// Replaces the five predefined entities and numeric character references (&#NN; &#xHH;).
std::string XmlDecode(std::string_view text);

}  // namespace fhirlake::store
