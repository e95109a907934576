// Reading the small XML documents S3 answers with (ListBucketResult, Error,
// InitiateMultipartUploadResult): element texts by tag name, entities decoded. S3's documents
// are flat and machine-written; this is not a general XML parser and is not meant to be one.
// Internal to the store module.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fhirlake::store {

// The raw (undecoded) contents of every <tag>...</tag> in `doc`, in order; an element written
// as <tag/> gives an empty string. Elements of the same name must not nest (true of S3's).
std::vector<std::string_view> XmlElements(std::string_view doc, std::string_view tag);

// The decoded text of the first <tag> element, or nullopt.
std::optional<std::string> XmlText(std::string_view doc, std::string_view tag);

// Replaces the five predefined entities and numeric character references (&#NN; &#xHH;).
std::string XmlDecode(std::string_view text);

}  // namespace fhirlake::store
