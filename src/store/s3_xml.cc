#include "src/store/s3_xml.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <cstdlib>

namespace fhirlake::store {
namespace {

void AppendUtf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x110000) {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// An ISO 8601 UTC instant as S3 writes LastModified ("2009-10-12T17:50:30.000Z"), in ms.
std::optional<int64_t> ParseIsoMillis(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 19 || std::sscanf(std::string(text.substr(0, 19)).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &year, &month,
                                      &day, &hour, &minute, &second) != 6) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t millis = 0;
  if (text.size() > 20 && text[19] == '.') {
    int scale = 100;
    for (size_t i = 20; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, scale /= 10) millis += (text[i] - '0') * scale;
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000 + millis;
}

}  // namespace

std::vector<std::string_view> XmlElements(std::string_view doc, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while ((pos = doc.find(open, pos)) != std::string_view::npos) {
    size_t after = pos + open.size();
    if (after >= doc.size()) break;
    char next = doc[after];
    if (next != '>' && next != ' ' && next != '/' && next != '\t' && next != '\n' && next != '\r') {
      pos = after;  // a longer tag name that starts the same way
      continue;
    }
    size_t tag_end = doc.find('>', after);
    if (tag_end == std::string_view::npos) break;
    if (doc[tag_end - 1] == '/') {  // <tag/>
      out.emplace_back();
      pos = tag_end + 1;
      continue;
    }
    size_t end = doc.find(close, tag_end + 1);
    if (end == std::string_view::npos) break;
    out.push_back(doc.substr(tag_end + 1, end - tag_end - 1));
    pos = end + close.size();
  }
  return out;
}

std::optional<std::string> XmlText(std::string_view doc, std::string_view tag) {
  auto elements = XmlElements(doc, tag);
  if (elements.empty()) return std::nullopt;
  return XmlDecode(elements.front());
}

Result<ListPage> ParseListObjectsV2(std::string_view body, std::string_view root_prefix) {
  ListPage page;
  for (std::string_view contents : XmlElements(body, "Contents")) {
    auto key = XmlText(contents, "Key");
    if (!key || key->compare(0, root_prefix.size(), root_prefix) != 0) continue;
    uint64_t size = 0;
    if (auto text = XmlText(contents, "Size")) {
      auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), size);
      if (ec != std::errc() || end != text->data() + text->size()) {
        return ServerError("the Size of " + *key + " is not a number: '" + text->substr(0, 40) + "'");
      }
    }
    int64_t modified_ms = 0;
    if (auto text = XmlText(contents, "LastModified")) modified_ms = ParseIsoMillis(*text).value_or(0);
    page.objects.push_back({key->substr(root_prefix.size()), size, modified_ms});
  }
  for (std::string_view common : XmlElements(body, "CommonPrefixes")) {
    auto prefix = XmlText(common, "Prefix");
    if (prefix && prefix->compare(0, root_prefix.size(), root_prefix) == 0) {
      page.prefixes.push_back(prefix->substr(root_prefix.size()));
    }
  }
  if (XmlText(body, "IsTruncated").value_or("false") == "true") {
    page.next_token = XmlText(body, "NextContinuationToken").value_or("");
    if (page.next_token.empty()) return ServerError("the listing is truncated but has no continuation token");
  }
  return page;
}

S3ErrorBody ParseErrorBody(std::string_view body) {
  return {XmlText(body, "Code").value_or(""), XmlText(body, "Message").value_or("")};
}

std::string XmlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    size_t semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp") out.push_back('&');
    else if (entity == "lt") out.push_back('<');
    else if (entity == "gt") out.push_back('>');
    else if (entity == "quot") out.push_back('"');
    else if (entity == "apos") out.push_back('\'');
    else if (!entity.empty() && entity[0] == '#') {
      std::string digits(entity.substr(1));
      bool hex = !digits.empty() && (digits[0] == 'x' || digits[0] == 'X');
      unsigned long cp = std::strtoul(hex ? digits.c_str() + 1 : digits.c_str(), nullptr, hex ? 16 : 10);
      AppendUtf8(out, cp);
    } else {
      out.append(text.substr(i, semi - i + 1));  // unknown: keep as written
    }
    i = semi;
  }
  return out;
}

}  // namespace fhirlake::store
