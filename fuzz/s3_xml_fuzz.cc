// S3's XML answers: ListObjectsV2 (ListBucketResult), <Error> bodies and the multipart upload
// answers (InitiateMultipartUploadResult's UploadId, a CompleteMultipartUpload error in a 200).
// The first byte picks the root prefix the listing is read under.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/store/s3_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fhirlake::store;
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  static constexpr std::string_view kPrefixes[] = {"", "root/", "a/b/"};
  (void)ParseListObjectsV2(body, kPrefixes[data[0] % 3]);
  (void)ParseErrorBody(body);
  (void)XmlText(body, "UploadId");
  return 0;
}
