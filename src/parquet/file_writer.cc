#include "fhirlake/parquet/file_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>

#include "fhirlake/parquet/thrift_compact.h"

namespace fhirlake::parquet {
namespace {
constexpr char kMagic[] = "PAR1";
constexpr int32_t kEncodingPlain = 0, kEncodingRle = 3, kEncodingRleDictionary = 8;
}  // namespace

std::vector<size_t> CostliestFirst(const std::vector<uint64_t>& cost) {
  std::vector<size_t> order(cost.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return cost[x] > cost[y]; });
  return order;
}

void ParallelFor::RunCostliestFirst(const std::vector<uint64_t>& cost, const std::function<void(size_t)>& work) {
  const std::vector<size_t> order = CostliestFirst(cost);
  Run(order.size(), [&](size_t i) { work(order[i]); });
}

Result<std::unique_ptr<FileWriter>> FileWriter::Open(const std::filesystem::path& path, const Schema& schema,
                                                     WriterOptions options) {
  auto sink = OpenFileSink(path);
  if (!sink.ok()) return sink.status();
  return Open(std::move(sink.value()), schema, std::move(options));
}

Result<std::unique_ptr<FileWriter>> FileWriter::Open(std::unique_ptr<OutputSink> sink, const Schema& schema,
                                                     WriterOptions options) {
  std::unique_ptr<FileWriter> w(new FileWriter(std::move(sink), schema, std::move(options)));
  FHIRLAKE_RETURN_IF_ERROR(w->Write(std::string(kMagic, 4)));
  return w;
}

namespace {
// Each leaf below `node` with its ancestor groups below the root (`groups`, outermost first).
void LeafAncestors(const SchemaNode& node, std::vector<int>& groups, std::vector<std::vector<int>>& out) {
  if (node.is_leaf) {
    out[static_cast<size_t>(node.leaf_index)] = groups;
    return;
  }
  if (node.group_index >= 0) groups.push_back(node.group_index);
  for (const auto& child : node.children) LeafAncestors(*child, groups, out);
  if (node.group_index >= 0) groups.pop_back();
}
}  // namespace

FileWriter::FileWriter(std::unique_ptr<OutputSink> sink, const Schema& schema, WriterOptions options)
    : sink_(std::move(sink)), schema_(schema), options_(std::move(options)) {
  group_nulls_.Resize(static_cast<size_t>(schema_.group_count()));
  std::vector<std::vector<int>> ancestors(schema_.leaves().size());
  std::vector<int> groups;
  LeafAncestors(schema_.root(), groups, ancestors);
  for (const SchemaNode* leaf : schema_.leaves()) {
    columns_.push_back(std::make_unique<ColumnWriter>(*leaf, options_.column, &rows_in_group_, &group_nulls_,
                                                      std::move(ancestors[static_cast<size_t>(leaf->leaf_index)])));
  }
}

FileWriter::~FileWriter() = default;

Status FileWriter::Write(const std::string& bytes) {
  if (!sink_) return InternalError("write to a closed Parquet writer");
  Status s = sink_->Append(bytes);
  if (!s.ok()) return s.WithContext("cannot write a Parquet file");
  offset_ += bytes.size();
  return Status::Ok();
}

Status FileWriter::EndRow() {
  ++rows_in_group_;
  ++total_rows_;
  return rows_in_group_ >= next_check_ ? MaybeFlush() : Status::Ok();
}

Status FileWriter::EndRows(uint64_t count) {
  if (count == 0) return Status::Ok();
  rows_in_group_ += count;
  total_rows_ += count;
  return MaybeFlush();
}

Status FileWriter::MaybeFlush() {
  // A row group ends when its encoded size reaches the target, or when what it holds in
  // memory (a byte per level written) reaches four times the target.
  size_t encoded = 0, memory = 0;
  for (const auto& c : columns_) {
    encoded += c->encoded_bytes();
    memory += c->memory_bytes();
  }
  // Group nulls not yet taken by their leaves: a run of levels each, at most.
  encoded += 2 * group_nulls_.seq;
  memory += sizeof(GroupNulls::Null) * group_nulls_.seq;
  if (encoded >= options_.row_group_bytes || memory >= 4 * options_.row_group_bytes) return FlushRowGroup();
  // The next measure: half the rows that, at the size per row so far, would reach the target.
  const size_t size = std::max(encoded, memory / 4);
  const size_t per_row = std::max<size_t>(1, size / std::max<uint64_t>(1, rows_in_group_));
  const uint64_t rows_left = (options_.row_group_bytes - std::min(size, options_.row_group_bytes)) / per_row;
  next_check_ = rows_in_group_ + std::clamp<uint64_t>(rows_left / 2, 1, 256);
  return Status::Ok();
}

Status FileWriter::FlushRowGroup() {
  if (rows_in_group_ == 0) return Status::Ok();
  RowGroupInfo group;
  group.rows = static_cast<int64_t>(rows_in_group_);
  group.file_offset = static_cast<int64_t>(offset_);
  // Each chunk is encoded on its own at offset 0, then placed: its offsets move by where it
  // lands.
  auto encode = [&](size_t i, std::string& chunk) {
    columns_[i]->PadRows(rows_in_group_);
    return columns_[i]->WriteChunk(0, chunk);
  };
  auto place = [&](Result<ColumnChunkInfo>& encoded, const std::string& chunk) -> Status {
    if (!encoded.ok()) return encoded.status();
    ColumnChunkInfo& info = encoded.value();
    const auto at = static_cast<int64_t>(offset_);
    info.file_offset += at;
    info.data_page_offset += at;
    if (info.dictionary_page_offset >= 0) info.dictionary_page_offset += at;
    group.total_size += info.uncompressed_size;
    group.chunks.push_back(std::move(info));
    return Write(chunk);
  };
  if (options_.parallel) {
    // The row group's compressed chunks are held until all are encoded.
    std::vector<std::string> chunks(columns_.size());
    std::vector<Result<ColumnChunkInfo>> infos(columns_.size(), Result<ColumnChunkInfo>(InternalError("not encoded")));
    std::vector<uint64_t> cost(columns_.size());
    for (size_t i = 0; i < columns_.size(); ++i) cost[i] = columns_[i]->encoded_bytes();
    options_.parallel->RunCostliestFirst(cost, [&](size_t i) {
      // Room for the chunk before compression: written once, not grown by copying (a large
      // reservation is address space until written).
      chunks[i].reserve(columns_[i]->encoded_bytes() + 1024);
      infos[i] = encode(i, chunks[i]);
    });
    for (size_t i = 0; i < columns_.size(); ++i) {
      FHIRLAKE_RETURN_IF_ERROR(place(infos[i], chunks[i]));
      std::string().swap(chunks[i]);
    }
  } else {
    std::string chunk;  // one buffer, reused chunk after chunk
    for (size_t i = 0; i < columns_.size(); ++i) {
      chunk.clear();
      auto info = encode(i, chunk);
      FHIRLAKE_RETURN_IF_ERROR(place(info, chunk));
    }
  }
  row_groups_.push_back(std::move(group));
  group_nulls_.Clear();
  rows_in_group_ = 0;
  next_check_ = 1;
  return Status::Ok();
}

Status FileWriter::Close() {
  if (closed_) return Status::Ok();
  closed_ = true;
  FHIRLAKE_RETURN_IF_ERROR(FlushRowGroup());
  ThriftCompactWriter w;
  w.I32(1, 1);  // version: 1 (parquet-format's FileMetaData.version; 2 is not defined)
  schema_.WriteThrift(w);
  w.I64(3, static_cast<int64_t>(total_rows_));
  w.BeginList(4, ThriftType::kStruct, row_groups_.size());
  for (const auto& g : row_groups_) {
    w.BeginElementStruct();
    w.BeginList(1, ThriftType::kStruct, g.chunks.size());
    int64_t compressed_total = 0;
    for (size_t i = 0; i < g.chunks.size(); ++i) {
      const ColumnChunkInfo& c = g.chunks[i];
      const SchemaNode& leaf = *schema_.leaves()[i];
      compressed_total += c.compressed_size;
      w.BeginElementStruct();
      w.I64(2, 0);  // file_offset: deprecated (parquet.thrift), 0 as current writers do
      w.BeginStruct(3);  // ColumnMetaData
      w.I32(1, static_cast<int32_t>(leaf.type));
      if (c.dictionary) {
        w.BeginList(2, ThriftType::kI32, 3);
        w.ElementI32(kEncodingPlain);
        w.ElementI32(kEncodingRle);
        w.ElementI32(kEncodingRleDictionary);
      } else {
        w.BeginList(2, ThriftType::kI32, 2);
        w.ElementI32(kEncodingPlain);
        w.ElementI32(kEncodingRle);
      }
      w.BeginList(3, ThriftType::kBinary, leaf.path.size());
      for (const auto& p : leaf.path) w.ElementBinary(p);
      w.I32(4, static_cast<int32_t>(options_.column.compression));
      w.I64(5, c.num_values);
      w.I64(6, c.uncompressed_size);
      w.I64(7, c.compressed_size);
      w.I64(9, c.data_page_offset);
      if (c.dictionary_page_offset >= 0) w.I64(11, c.dictionary_page_offset);
      w.BeginStruct(12);  // Statistics
      w.I64(3, c.null_count);
      if (c.has_min_max) {
        w.Binary(5, c.max);
        w.Binary(6, c.min);
      }
      w.EndStruct();
      w.EndStruct();
      w.EndStruct();
    }
    w.I64(2, g.total_size);
    w.I64(3, g.rows);
    w.I64(5, g.file_offset);
    w.I64(6, compressed_total);
    w.EndStruct();
  }
  w.Binary(6, options_.created_by);
  w.BeginList(7, ThriftType::kStruct, schema_.leaves().size());
  for (size_t i = 0; i < schema_.leaves().size(); ++i) {
    w.BeginElementStruct();
    w.BeginStruct(1);  // TypeDefinedOrder
    w.EndStruct();
    w.EndStruct();
  }
  w.Finish();
  std::string footer = w.bytes();
  uint32_t len = static_cast<uint32_t>(footer.size());
  footer.append(reinterpret_cast<const char*>(&len), 4);
  footer.append(kMagic, 4);
  FHIRLAKE_RETURN_IF_ERROR(Write(footer));
  Status closed = sink_->Close();
  sink_.reset();
  return closed;
}

}  // namespace fhirlake::parquet
