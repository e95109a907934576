#include "fhirlake/parquet/thrift_compact.h"

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
