#include "fhirlake/delta/object_files.h"

#include <optional>

namespace fhirlake::delta {
namespace {

class ObjectSink : public parquet::OutputSink {
 public:
  ObjectSink(std::unique_ptr<store::ObjectWriter> writer, std::string name)
      : writer_(std::move(writer)), name_(std::move(name)) {}
  Status Append(std::string_view bytes) override { return writer_->Append(bytes); }
  Status Close() override { return writer_->Close(); }
  std::string name() const override { return name_; }

 private:
  std::unique_ptr<store::ObjectWriter> writer_;
  std::string name_;
};

class ObjectSource : public parquet::InputSource {
 public:
  ObjectSource(store::ObjectStore& store, std::string key) : store_(store), key_(std::move(key)) {}
  Result<uint64_t> Size() override {
    if (!size_) {
      auto size = store_.Size(key_);
      if (!size.ok()) return size.status();
      size_ = *size;
    }
    return *size_;
  }
  Result<std::string> ReadAt(uint64_t offset, size_t length) override {
    auto bytes = store_.GetRange(key_, offset, length);
    if (!bytes.ok()) return bytes.status();
    if (bytes->size() != length) {
      return DataLoss(name() + " ends before byte " + std::to_string(offset + length) + " (it has " +
                      std::to_string(offset + bytes->size()) + ")");
    }
    return std::move(bytes.value());
  }
  std::string name() const override { return store_.Describe() + "/" + key_; }

 private:
  store::ObjectStore& store_;
  std::string key_;
  std::optional<uint64_t> size_;
};

}  // namespace

Result<std::unique_ptr<parquet::OutputSink>> OpenObjectSink(store::ObjectStore& store, std::string key) {
  auto writer = store.NewWriter(key);
  if (!writer.ok()) return writer.status();
  return std::unique_ptr<parquet::OutputSink>(new ObjectSink(std::move(writer.value()), store.Describe() + "/" + key));
}

std::unique_ptr<parquet::InputSource> OpenObjectSource(store::ObjectStore& store, std::string key) {
  return std::make_unique<ObjectSource>(store, std::move(key));
}

}  // namespace fhirlake::delta
