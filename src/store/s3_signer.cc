#include "src/store/s3_signer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>

namespace fhirlake::store {
namespace {

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xF]);
  }
  return out;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string FormatUtc(std::chrono::system_clock::time_point now, const char* format) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

std::string Trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return std::string(v);
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xF]);
    }
  }
  return out;
}

std::string CanonicalQuery(const QueryParams& params) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const auto& [name, value] : params) encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name + "=" + value;
  }
  return out;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return Hex(digest, sizeof(digest));
}

std::vector<std::pair<std::string, std::string>> SignV4(const SigV4Request& request,
                                                        const SigV4Credentials& credentials,
                                                        std::chrono::system_clock::time_point now) {
  const std::string amz_date = FormatUtc(now, "%Y%m%dT%H%M%SZ");
  const std::string date = amz_date.substr(0, 8);

  std::vector<std::pair<std::string, std::string>> signed_headers = {
      {"host", request.host},
      {"x-amz-content-sha256", request.payload_sha256},
      {"x-amz-date", amz_date},
  };
  if (!credentials.session_token.empty()) signed_headers.emplace_back("x-amz-security-token", credentials.session_token);
  for (const auto& [name, value] : request.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    signed_headers.emplace_back(lower, Trim(value));
  }
  std::sort(signed_headers.begin(), signed_headers.end());

  std::string canonical_headers;
  std::string header_names;
  for (const auto& [name, value] : signed_headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!header_names.empty()) header_names.push_back(';');
    header_names += name;
  }
  const std::string canonical_request = request.method + "\n" + request.canonical_uri + "\n" +
                                        CanonicalQuery(request.query) + "\n" + canonical_headers + "\n" +
                                        header_names + "\n" + request.payload_sha256;
  const std::string scope = date + "/" + credentials.region + "/s3/aws4_request";
  const std::string string_to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + Sha256Hex(canonical_request);

  std::string key = Hmac("AWS4" + credentials.secret_access_key, date);
  key = Hmac(key, credentials.region);
  key = Hmac(key, "s3");
  key = Hmac(key, "aws4_request");
  std::string signature = Hmac(key, string_to_sign);
  std::string signature_hex = Hex(reinterpret_cast<const unsigned char*>(signature.data()), signature.size());

  std::vector<std::pair<std::string, std::string>> out = {
      {"x-amz-date", amz_date},
      {"x-amz-content-sha256", request.payload_sha256},
  };
  if (!credentials.session_token.empty()) out.emplace_back("x-amz-security-token", credentials.session_token);
  out.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                                        ", SignedHeaders=" + header_names + ", Signature=" + signature_hex);
  return out;
}

std::string HostHeaderFor(std::string_view scheme, std::string_view authority) {
  const std::string_view default_port = scheme == "http" ? ":80" : scheme == "https" ? ":443" : "";
  if (!default_port.empty() && authority.ends_with(default_port) && !authority.ends_with("]")) {
    authority.remove_suffix(default_port.size());
  }
  return std::string(authority);
}

}  // namespace fhirlake::store
