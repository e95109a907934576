// The Thrift compact protocol, the encoding of Parquet's file metadata and page headers
// (Thrift "compact protocol" spec: field headers as id deltas, zigzag varints, lists with a
// size/type byte). The writer does what Parquet metadata needs: structs, i16/i32/i64, bool,
// binary and lists. The reader decodes any struct into a generic tree of field ids, which the
// Parquet reader then picks fields from; fields it does not know are simply not looked at.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fhirlake/status.h"

namespace fhirlake::parquet {

enum class ThriftType : uint8_t {
  kBoolTrue = 1, kBoolFalse = 2, kByte = 3, kI16 = 4, kI32 = 5, kI64 = 6, kDouble = 7,
  kBinary = 8, kList = 9, kSet = 10, kMap = 11, kStruct = 12,
};

class ThriftCompactWriter {
 public:
  // Fields, in increasing id order within a struct.
  void I32(int16_t id, int32_t v);
  void I64(int16_t id, int64_t v);
  void Bool(int16_t id, bool v);
  void Binary(int16_t id, std::string_view v);
  // A nested struct field: BeginStruct, its fields, EndStruct.
  void BeginStruct(int16_t id);
  void EndStruct();
  // A list field of `size` elements of `element_type`; then write the elements with the
  // Element* calls (struct elements: BeginElementStruct ... EndStruct).
  void BeginList(int16_t id, ThriftType element_type, size_t size);
  void ElementI32(int32_t v) { Varint(ZigZag(v)); }
  void ElementBinary(std::string_view v);
  void BeginElementStruct();
  // Ends the top-level struct (writes the stop byte).
  void Finish() { bytes_.push_back(0); }

  const std::string& bytes() const { return bytes_; }
  void Clear() {
    bytes_.clear();
    last_ids_ = {0};
  }

 private:
  static uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
  void Varint(uint64_t v);
  void FieldHeader(int16_t id, ThriftType type);

  std::string bytes_;
  std::vector<int16_t> last_ids_{0};
};

// A decoded value: integers (bool, byte, i16/i32/i64 as `i`), binary, double, a list or set
// (`items`), a struct (`fields`, by id). Maps are decoded and dropped (Parquet's metadata has
// none that a reader needs).
struct ThriftValue {
  ThriftType type = ThriftType::kStruct;
  int64_t i = 0;
  double d = 0;
  std::string_view binary;  // points into the decoded buffer
  std::vector<ThriftValue> items;
  std::vector<std::pair<int16_t, ThriftValue>> fields;

  // Defined (as defaults) in thrift_compact.cc, where ThriftValue is complete: defining them
  // here would instantiate std::vector<std::pair<int16_t, ThriftValue>> with an incomplete
  // element type, which libstdc++ 12 with clang rejects.
  ThriftValue();
  ~ThriftValue();
  ThriftValue(const ThriftValue&);
  ThriftValue(ThriftValue&&) noexcept;
  ThriftValue& operator=(const ThriftValue&);
  ThriftValue& operator=(ThriftValue&&) noexcept;

  const ThriftValue* Field(int16_t id) const;
  int64_t Int(int16_t id, int64_t fallback = 0) const;
  std::string_view Binary(int16_t id) const;
  const std::vector<ThriftValue>& List(int16_t id) const;  // empty when absent
};

// A pull reader: the caller walks structs field by field and reads or skips each value, so
// large metadata (a footer with thousands of column chunks) is decoded without building a
// tree.
class ThriftCompactReader {
 public:
  explicit ThriftCompactReader(std::string_view bytes, size_t pos = 0) : bytes_(bytes), pos_(pos) {}
  size_t pos() const { return pos_; }

  // Enters a struct (the top-level one, or a field or element of type kStruct).
  Status BeginStruct() {
    if (last_ids_.size() > 64) return Corrupt("nesting too deep");
    last_ids_.push_back(0);
    return Status::Ok();
  }
  // The next field of the current struct; at its end, sets `stop` and leaves the struct.
  // (This and the value readers below are inline: a footer has hundreds of thousands of
  // fields, and their common case is a byte or two.)
  Status NextField(int16_t& id, ThriftType& type, bool& stop) {
    if (pos_ < bytes_.size() && (static_cast<uint8_t>(bytes_[pos_]) >> 4) != 0) {  // short form: id delta
      const auto header = static_cast<uint8_t>(bytes_[pos_++]);
      stop = false;
      type = static_cast<ThriftType>(header & 0x0F);
      id = static_cast<int16_t>(last_ids_.back() + (header >> 4));
      last_ids_.back() = id;
      return Status::Ok();
    }
    return NextFieldSlow(id, type, stop);
  }
  // Values. A bool struct field carries its value in `type` (kBoolTrue/kBoolFalse) and has no
  // payload to read.
  Status Int(int64_t& v) {  // i16, i32, i64
    uint64_t u = 0;
    FHIRLAKE_RETURN_IF_ERROR(Varint(u));
    v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
    return Status::Ok();
  }
  Status Binary(std::string_view& v) {
    uint64_t n = 0;
    FHIRLAKE_RETURN_IF_ERROR(Varint(n));
    if (n > bytes_.size() - pos_) return Corrupt("truncated binary");
    v = bytes_.substr(pos_, n);
    pos_ += n;
    return Status::Ok();
  }
  Status ListHeader(ThriftType& element, uint64_t& size);
  // Consumes a value of `type` (a list element when `in_list`) without decoding it.
  Status Skip(ThriftType type, bool in_list = false);
  // Decodes a value of `type` into `out`; with `keep` false, skips it (maps are always skipped).
  Status Read(ThriftType type, bool in_list, ThriftValue& out, bool keep);

  // Walks the fields of the struct the reader is at: `fn(id, type)` must consume each value
  // (read it or skip it).
  template <typename Fn>
  Status ForEachField(Fn&& fn) {
    FHIRLAKE_RETURN_IF_ERROR(BeginStruct());
    while (true) {
      int16_t id = 0;
      ThriftType type = ThriftType::kStruct;
      bool stop = false;
      FHIRLAKE_RETURN_IF_ERROR(NextField(id, type, stop));
      if (stop) return Status::Ok();
      FHIRLAKE_RETURN_IF_ERROR(fn(id, type));
    }
  }
  // Calls `fn(element_type)` for each element of the list the reader is at; `fn` consumes it.
  template <typename Fn>
  Status ForEachElement(Fn&& fn) {
    ThriftType element;
    uint64_t n = 0;
    FHIRLAKE_RETURN_IF_ERROR(ListHeader(element, n));
    for (uint64_t i = 0; i < n; ++i) FHIRLAKE_RETURN_IF_ERROR(fn(element));
    return Status::Ok();
  }

 private:
  static Status Corrupt(const std::string& why);
  Status NextFieldSlow(int16_t& id, ThriftType& type, bool& stop);
  Status Byte(uint8_t& b);
  Status Varint(uint64_t& v) {
    if (pos_ < bytes_.size() && !(static_cast<uint8_t>(bytes_[pos_]) & 0x80)) {  // one byte
      v = static_cast<uint8_t>(bytes_[pos_++]);
      return Status::Ok();
    }
    return VarintSlow(v);
  }
  Status VarintSlow(uint64_t& v);

  std::string_view bytes_;
  size_t pos_;
  std::vector<int16_t> last_ids_;
  static constexpr int kMaxContainerDepth = 64;
  int container_depth_ = 0;  // lists, sets and maps being read inside each other
};

// Decodes one struct starting at `bytes[*pos]` and advances `*pos` past it. Fails on
// truncated or malformed input and on nesting deeper than 64.
Result<ThriftValue> ReadThriftStruct(std::string_view bytes, size_t* pos);

}  // namespace fhirlake::parquet
