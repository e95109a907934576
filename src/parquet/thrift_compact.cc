#include "fhirlake/parquet/thrift_compact.h"

#include <cstring>

namespace fhirlake::parquet {

void ThriftCompactWriter::Varint(uint64_t v) {
  while (v >= 0x80) {
    bytes_.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  bytes_.push_back(static_cast<char>(v));
}

void ThriftCompactWriter::FieldHeader(int16_t id, ThriftType type) {
  int16_t delta = static_cast<int16_t>(id - last_ids_.back());
  if (delta > 0 && delta <= 15) {
    bytes_.push_back(static_cast<char>((delta << 4) | static_cast<uint8_t>(type)));
  } else {
    bytes_.push_back(static_cast<char>(type));
    Varint(ZigZag(id));
  }
  last_ids_.back() = id;
}

void ThriftCompactWriter::I32(int16_t id, int32_t v) {
  FieldHeader(id, ThriftType::kI32);
  Varint(ZigZag(v));
}

void ThriftCompactWriter::I64(int16_t id, int64_t v) {
  FieldHeader(id, ThriftType::kI64);
  Varint(ZigZag(v));
}

void ThriftCompactWriter::Bool(int16_t id, bool v) { FieldHeader(id, v ? ThriftType::kBoolTrue : ThriftType::kBoolFalse); }

void ThriftCompactWriter::Binary(int16_t id, std::string_view v) {
  FieldHeader(id, ThriftType::kBinary);
  ElementBinary(v);
}

void ThriftCompactWriter::ElementBinary(std::string_view v) {
  Varint(v.size());
  bytes_.append(v);
}

void ThriftCompactWriter::BeginStruct(int16_t id) {
  FieldHeader(id, ThriftType::kStruct);
  last_ids_.push_back(0);
}

void ThriftCompactWriter::BeginElementStruct() { last_ids_.push_back(0); }

void ThriftCompactWriter::EndStruct() {
  bytes_.push_back(0);
  last_ids_.pop_back();
}

void ThriftCompactWriter::BeginList(int16_t id, ThriftType element_type, size_t size) {
  FieldHeader(id, ThriftType::kList);
  if (size < 15) {
    bytes_.push_back(static_cast<char>((size << 4) | static_cast<uint8_t>(element_type)));
  } else {
    bytes_.push_back(static_cast<char>(0xF0 | static_cast<uint8_t>(element_type)));
    Varint(size);
  }
}

}  // namespace fhirlake::parquet

namespace fhirlake::parquet {

Status ThriftCompactReader::Corrupt(const std::string& why) { return DataLoss("malformed Thrift metadata: " + why); }

Status ThriftCompactReader::Byte(uint8_t& b) {
  if (pos_ >= bytes_.size()) return Corrupt("truncated");
  b = static_cast<uint8_t>(bytes_[pos_++]);
  return Status::Ok();
}

Status ThriftCompactReader::VarintSlow(uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b = 0;
    FHIRLAKE_RETURN_IF_ERROR(Byte(b));
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return Status::Ok();
  }
  return Corrupt("varint too long");
}

// The stop byte, a field with its id in full, or the end of the bytes.
Status ThriftCompactReader::NextFieldSlow(int16_t& id, ThriftType& type, bool& stop) {
  uint8_t header = 0;
  FHIRLAKE_RETURN_IF_ERROR(Byte(header));
  stop = header == 0;
  if (stop) {
    last_ids_.pop_back();
    return Status::Ok();
  }
  type = static_cast<ThriftType>(header & 0x0F);
  if ((header >> 4) != 0) {
    id = static_cast<int16_t>(last_ids_.back() + (header >> 4));
  } else {
    int64_t v = 0;
    FHIRLAKE_RETURN_IF_ERROR(Int(v));
    id = static_cast<int16_t>(v);
  }
  last_ids_.back() = id;
  return Status::Ok();
}

Status ThriftCompactReader::ListHeader(ThriftType& element, uint64_t& size) {
  uint8_t h = 0;
  FHIRLAKE_RETURN_IF_ERROR(Byte(h));
  size = h >> 4;
  if (size == 15) FHIRLAKE_RETURN_IF_ERROR(Varint(size));
  if (size > bytes_.size() - pos_) return Corrupt("list longer than the metadata");
  element = static_cast<ThriftType>(h & 0x0F);
  return Status::Ok();
}

Status ThriftCompactReader::Skip(ThriftType type, bool in_list) {
  switch (type) {
    case ThriftType::kBoolTrue:
    case ThriftType::kBoolFalse:
      if (!in_list) return Status::Ok();  // a struct field: the value is in the field header
      [[fallthrough]];
    case ThriftType::kByte: {
      uint8_t b = 0;
      return Byte(b);
    }
    case ThriftType::kI16:
    case ThriftType::kI32:
    case ThriftType::kI64: {
      uint64_t v = 0;
      return Varint(v);
    }
    case ThriftType::kDouble:
      if (bytes_.size() - pos_ < 8) return Corrupt("truncated");
      pos_ += 8;
      return Status::Ok();
    case ThriftType::kBinary: {
      std::string_view v;
      return Binary(v);
    }
    case ThriftType::kList:
    case ThriftType::kSet:
      // Containers nest one byte a level (structs have their own limit): bounded, or a crafted
      // footer of some kilobytes recurses deeper than the stack.
      if (++container_depth_ > kMaxContainerDepth) return Corrupt("lists nested too deep");
      FHIRLAKE_RETURN_IF_ERROR(ForEachElement([&](ThriftType element) { return Skip(element, true); }));
      --container_depth_;
      return Status::Ok();
    case ThriftType::kMap: {
      uint64_t n = 0;
      FHIRLAKE_RETURN_IF_ERROR(Varint(n));
      if (n == 0) return Status::Ok();
      if (n > bytes_.size() - pos_) return Corrupt("map longer than the metadata");
      uint8_t kv = 0;
      FHIRLAKE_RETURN_IF_ERROR(Byte(kv));
      if (++container_depth_ > kMaxContainerDepth) return Corrupt("maps nested too deep");
      for (uint64_t k = 0; k < n; ++k) {
        FHIRLAKE_RETURN_IF_ERROR(Skip(static_cast<ThriftType>(kv >> 4), true));
        FHIRLAKE_RETURN_IF_ERROR(Skip(static_cast<ThriftType>(kv & 0x0F), true));
      }
      --container_depth_;
      return Status::Ok();
    }
    case ThriftType::kStruct:
      return ForEachField([&](int16_t, ThriftType field_type) { return Skip(field_type); });
  }
  return Corrupt("unknown field type " + std::to_string(static_cast<int>(type)));
}

Status ThriftCompactReader::Read(ThriftType type, bool in_list, ThriftValue& out, bool keep) {
  out.type = type;
  if (!keep || type == ThriftType::kMap) return Skip(type, in_list);
  switch (type) {
    case ThriftType::kBoolTrue:
    case ThriftType::kBoolFalse:
      if (!in_list) {  // a struct field: the value is in the field header
        out.i = type == ThriftType::kBoolTrue;
        return Status::Ok();
      }
      [[fallthrough]];
    case ThriftType::kByte: {
      uint8_t b = 0;
      FHIRLAKE_RETURN_IF_ERROR(Byte(b));
      out.i = type == ThriftType::kByte ? static_cast<int8_t>(b) : (b == 1);
      return Status::Ok();
    }
    case ThriftType::kI16:
    case ThriftType::kI32:
    case ThriftType::kI64: return Int(out.i);
    case ThriftType::kDouble:
      if (bytes_.size() - pos_ < 8) return Corrupt("truncated");
      std::memcpy(&out.d, bytes_.data() + pos_, 8);
      pos_ += 8;
      return Status::Ok();
    case ThriftType::kBinary: return Binary(out.binary);
    case ThriftType::kList:
    case ThriftType::kSet:
      if (++container_depth_ > kMaxContainerDepth) return Corrupt("lists nested too deep");
      FHIRLAKE_RETURN_IF_ERROR(ForEachElement([&](ThriftType element) {
        out.items.emplace_back();
        return Read(element, true, out.items.back(), true);
      }));
      --container_depth_;
      return Status::Ok();
    case ThriftType::kStruct:
      return ForEachField([&](int16_t id, ThriftType field_type) {
        out.fields.emplace_back(id, ThriftValue{});
        return Read(field_type, false, out.fields.back().second, true);
      });
    case ThriftType::kMap: break;  // skipped above
  }
  return Corrupt("unknown field type " + std::to_string(static_cast<int>(type)));
}

ThriftValue::ThriftValue() = default;
ThriftValue::~ThriftValue() = default;
ThriftValue::ThriftValue(const ThriftValue&) = default;
ThriftValue::ThriftValue(ThriftValue&&) noexcept = default;
ThriftValue& ThriftValue::operator=(const ThriftValue&) = default;
ThriftValue& ThriftValue::operator=(ThriftValue&&) noexcept = default;

const ThriftValue* ThriftValue::Field(int16_t id) const {
  for (const auto& [fid, v] : fields) {
    if (fid == id) return &v;
  }
  return nullptr;
}

int64_t ThriftValue::Int(int16_t id, int64_t fallback) const {
  const ThriftValue* v = Field(id);
  return v ? v->i : fallback;
}

std::string_view ThriftValue::Binary(int16_t id) const {
  const ThriftValue* v = Field(id);
  return v ? v->binary : std::string_view();
}

const std::vector<ThriftValue>& ThriftValue::List(int16_t id) const {
  static const std::vector<ThriftValue> kEmpty;
  const ThriftValue* v = Field(id);
  return v ? v->items : kEmpty;
}

Result<ThriftValue> ReadThriftStruct(std::string_view bytes, size_t* pos) {
  ThriftCompactReader r(bytes, *pos);
  ThriftValue v;
  FHIRLAKE_RETURN_IF_ERROR(r.Read(ThriftType::kStruct, false, v, true));
  *pos = r.pos();
  return v;
}

}  // namespace fhirlake::parquet
