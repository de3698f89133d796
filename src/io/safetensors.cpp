#include "kiln/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "io/json.h"
#include "kiln/io/file.h"
#include "kiln/ops.h"

namespace kiln {

// The format is little-endian; so are all the hosts Kiln builds for (x86-64, aarch64).
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O copies tensor bytes as they are and needs a little-endian host");

namespace {

constexpr const char* kMetadataKey = "__metadata__";
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::Float64, "F64"},   {DType::Float32, "F32"}, {DType::Float16, "F16"},
    {DType::BFloat16, "BF16"}, {DType::Int64, "I64"},   {DType::Int32, "I32"},
    {DType::UInt8, "U8"},      {DType::Bool, "BOOL"},
};

// The tensors of `state` as contiguous CPU tensors, and the header that describes them.
struct Prepared {
  std::string header;  // length field + JSON + padding
  std::vector<Tensor> tensors;
};

Prepared prepare(const StateDict& state, const std::string& op, const std::string& where) {
  Prepared p;
  std::string json = "{";
  bool first = true;
  if (!state.metadata().empty()) {
    json += json::quote(kMetadataKey) + ":{";
    bool first_entry = true;
    for (const auto& [k, v] : state.metadata()) {
      KILN_CHECK(json::valid_utf8(k) && json::valid_utf8(v), op, where, "metadata entry '", k,
                 "' is not valid UTF-8");
      if (!first_entry) json += ',';
      first_entry = false;
      json += json::quote(k) + ":" + json::quote(v);
    }
    json += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : state) {
    KILN_CHECK(name != kMetadataKey, op, where, "a tensor may not be named '", kMetadataKey,
               "' (the format reserves it for metadata)");
    KILN_CHECK(json::valid_utf8(name), op, where, "tensor name '", name, "' is not valid UTF-8");
    KILN_CHECK(t.defined(), op, where, "tensor '", name, "' is undefined");
    Tensor c = t.detach().cpu().contiguous();
    const uint64_t bytes = uint64_t(c.numel()) * element_size(c.dtype());
    if (!first) json += ',';
    first = false;
    json +=
        json::quote(name) + ":{\"dtype\":\"" + safetensors_dtype_name(c.dtype()) + "\",\"shape\":[";
    for (size_t d = 0; d < c.shape().size(); ++d) {
      if (d) json += ',';
      json += std::to_string(c.shape()[d]);
    }
    json += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) +
            "]}";
    offset += bytes;
    p.tensors.push_back(std::move(c));
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data buffer 8-byte aligned
  const uint64_t n = json.size();
  KILN_CHECK(n <= kMaxHeaderBytes, op, where, "the header would be ", n,
             " bytes, beyond the format's limit of ", kMaxHeaderBytes,
             " (too many tensors or too much metadata)");
  p.header.resize(8);
  for (int i = 0; i < 8; ++i) p.header[size_t(i)] = char((n >> (8 * i)) & 0xff);
  p.header += json;
  return p;
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  for (const DTypeName& d : kDTypeNames)
    if (d.dtype == dtype) return d.name;
  KILN_CHECK_TYPE(false, "safetensors: no format name for dtype ", dtype_name(dtype));
  return "";
}

DType safetensors_dtype_from_name(const std::string& name) {
  for (const DTypeName& d : kDTypeNames)
    if (name == d.name) return d.dtype;
  KILN_CHECK_TYPE(false, "safetensors: unknown dtype '", name,
                  "' (Kiln reads F64, F32, F16, BF16, I64, I32, U8, BOOL)");
  return DType::Float32;
}

std::string serialize_safetensors(const StateDict& state) {
  Prepared p = prepare(state, "serialize_safetensors", ": ");
  std::string out = std::move(p.header);
  for (const Tensor& t : p.tensors)
    if (t.numel() > 0)
      out.append(static_cast<const char*>(t.data_ptr()),
                 size_t(t.numel()) * element_size(t.dtype()));
  return out;
}

void save_safetensors(const std::string& path, const StateDict& state) {
  // Everything that can fail without touching the disk happens first.
  Prepared p = prepare(state, "save_safetensors", ": '" + path + "': ");
  io::write_file_atomically(
      path,
      [&p](const io::ChunkWriter& write) {
        write(p.header);
        for (const Tensor& t : p.tensors) {
          if (t.numel() == 0) continue;
          write({static_cast<const char*>(t.data_ptr()),
                 size_t(t.numel()) * element_size(t.dtype())});
        }
      },
      "save_safetensors");
}

namespace {

// One tensor entry of the header, before its bytes are read.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
  size_t order;
};

Entry parse_entry(const std::string& name, const json::Value& v, const std::string& where,
                  uint64_t buffer_size) {
  KILN_CHECK(v.is_object(), where, "the entry of tensor '", name, "' is ", json::kind_name(v.kind),
             "; expected an object with dtype, shape and data_offsets");
  const json::Value* dtype = nullptr;
  const json::Value* shape = nullptr;
  const json::Value* offsets = nullptr;
  for (const auto& [key, field] : v.object) {
    const json::Value** slot = key == "dtype"          ? &dtype
                               : key == "shape"        ? &shape
                               : key == "data_offsets" ? &offsets
                                                       : nullptr;
    KILN_CHECK(slot != nullptr, where, "tensor '", name, "' has an unknown field '", key,
               "' (expected dtype, shape and data_offsets)");
    KILN_CHECK(*slot == nullptr, where, "tensor '", name, "' has the field '", key, "' twice");
    *slot = &field;
  }
  for (auto [field, key] :
       {std::pair{dtype, "dtype"}, std::pair{shape, "shape"}, std::pair{offsets, "data_offsets"}})
    KILN_CHECK(field != nullptr, where, "tensor '", name, "' has no '", key, "' field");

  Entry e;
  e.name = name;
  KILN_CHECK(dtype->is_string(), where, "the dtype of tensor '", name, "' is ",
             json::kind_name(dtype->kind), "; expected a string such as \"F32\"");
  try {
    e.dtype = safetensors_dtype_from_name(dtype->text);
  } catch (const Error&) {
    KILN_CHECK(false, where, "tensor '", name, "' has the unknown dtype '", dtype->text,
               "' (expected one of F64, F32, F16, BF16, I64, I32, U8, BOOL)");
  }

  KILN_CHECK(shape->is_array(), where, "the shape of tensor '", name, "' is ",
             json::kind_name(shape->kind), "; expected an array of sizes");
  KILN_CHECK(shape->array.size() <= kMaxTensorDims, where, "tensor '", name, "' has ",
             shape->array.size(), " dimensions; Kiln supports at most ", kMaxTensorDims);
  uint64_t numel = 1;
  bool overflow = false;
  for (const json::Value& d : shape->array) {
    std::optional<uint64_t> size = d.as_uint64();
    KILN_CHECK(size && *size <= uint64_t(INT64_MAX), where, "the shape of tensor '", name,
               "' has the entry ", d.is_number() ? d.text : json::kind_name(d.kind),
               "; expected non-negative integers");
    e.shape.push_back(int64_t(*size));
    overflow = overflow || __builtin_mul_overflow(numel, *size, &numel);
  }
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, uint64_t(element_size(e.dtype)), &nbytes);
  // An empty tensor's other sizes still multiply into its strides.
  try {
    checked_numel("load_safetensors", e.shape);
  } catch (const Error&) {
    overflow = true;
  }

  KILN_CHECK(offsets->is_array() && offsets->array.size() == 2, where,
             "the data_offsets of "
             "tensor '",
             name, "' are not a pair [begin, end]");
  std::optional<uint64_t> b = offsets->array[0].as_uint64(), en = offsets->array[1].as_uint64();
  KILN_CHECK(b && en, where, "the data_offsets of tensor '", name,
             "' are not non-negative integers");
  e.begin = *b;
  e.end = *en;
  KILN_CHECK(e.begin <= e.end, where, "tensor '", name, "' has data_offsets [", e.begin, ", ",
             e.end, "] with begin after end");
  KILN_CHECK(e.end <= buffer_size, where, "tensor '", name, "' has data_offsets [", e.begin, ", ",
             e.end, "] past the end of the ", buffer_size, "-byte data buffer (truncated file?)");
  KILN_CHECK(!overflow && nbytes == e.end - e.begin, where, "tensor '", name, "' of shape ",
             shape_str(e.shape), " and dtype ", dtype->text, " needs ",
             overflow ? std::string("more than 2^64") : std::to_string(nbytes),
             " bytes, but its data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin);
  return e;
}

}  // namespace

StateDict deserialize_safetensors(std::string_view bytes, const std::string& source) {
  const std::string where = "load_safetensors: '" + source + "': ";
  KILN_CHECK(bytes.size() >= 8, where, "the file is ", bytes.size(),
             " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
  KILN_CHECK(n <= bytes.size() - 8, where, "the header length is ", n, " bytes but only ",
             bytes.size() - 8, " bytes follow the length field (truncated file?)");
  KILN_CHECK(n <= kMaxHeaderBytes, where, "the header length ", n,
             " bytes exceeds the format's limit of ", kMaxHeaderBytes);
  const std::string_view header = bytes.substr(8, size_t(n));
  KILN_CHECK(
      !header.empty() && header[0] == '{', where,
      "the header must start with '{' (a JSON object), found ",
      header.empty() ? std::string("an empty header") : "'" + std::string(1, header[0]) + "'");
  KILN_CHECK(json::valid_utf8(header), where, "the header is not valid UTF-8");
  json::Value root;
  try {
    root = json::parse(header);
  } catch (const Error& e) {
    KILN_CHECK(false, where, "the header is not well-formed JSON: ", e.what());
  }
  KILN_CHECK(root.is_object(), where, "the header is not a JSON object");

  const uint64_t buffer_size = bytes.size() - 8 - n;
  StateDict out;
  std::vector<Entry> entries;
  std::set<std::string> seen;
  bool seen_metadata = false;
  for (const auto& [key, value] : root.object) {
    if (key == kMetadataKey) {
      KILN_CHECK(!seen_metadata, where, "the header has two '", kMetadataKey, "' entries");
      seen_metadata = true;
      KILN_CHECK(value.is_object(), where, "'", kMetadataKey, "' is ", json::kind_name(value.kind),
                 "; expected an object of strings");
      for (const auto& [mk, mv] : value.object) {
        KILN_CHECK(mv.is_string(), where, "metadata entry '", mk, "' is ", json::kind_name(mv.kind),
                   "; the format allows only strings");
        KILN_CHECK(!out.metadata().count(mk), where, "metadata entry '", mk, "' appears twice");
        out.metadata()[mk] = mv.text;
      }
      continue;
    }
    KILN_CHECK(seen.insert(key).second, where, "tensor '", key,
               "' appears twice in the header (duplicate names are not allowed)");
    entries.push_back(parse_entry(key, value, where, buffer_size));
    entries.back().order = entries.size() - 1;
  }

  // The tensors must tile the buffer exactly: no holes, no overlaps, nothing after the last.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin
                                : (a->end != b->end ? a->end < b->end : a->order < b->order);
  });
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : by_offset) {
    KILN_CHECK(e->begin <= expected, where, "the data buffer has a hole: bytes [", expected, ", ",
               e->begin, ") belong to no tensor (before tensor '", e->name, "')");
    KILN_CHECK(e->begin == expected, where, "tensor '", e->name, "' at data_offsets [", e->begin,
               ", ", e->end, "] overlaps tensor '", previous ? previous->name : "",
               "', which ends at ", expected);
    expected = e->end;
    previous = e;
  }
  KILN_CHECK(expected == buffer_size, where, "the data buffer is ", buffer_size,
             " bytes but the tensors cover ", expected, " (", buffer_size - expected,
             " trailing bytes belong to no tensor)");

  const char* data = bytes.data() + 8 + n;
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    const size_t nbytes = size_t(e.end - e.begin);
    if (nbytes > 0) std::memcpy(t.data_ptr(), data + e.begin, nbytes);
    if (e.dtype == DType::Bool) {
      const auto* p = reinterpret_cast<const uint8_t*>(data + e.begin);
      for (size_t i = 0; i < nbytes; ++i)
        KILN_CHECK(p[i] <= 1, where, "BOOL tensor '", e.name, "' has the byte value ", int(p[i]),
                   " at element ", i, "; expected 0 or 1");
    }
    out.insert(e.name, t);
  }
  return out;
}

StateDict load_safetensors(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  KILN_CHECK(f != nullptr, "load_safetensors: cannot open '", path, "': ", std::strerror(errno));
  std::string bytes;
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, got);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  KILN_CHECK(!failed, "load_safetensors: cannot read '", path, "': ", std::strerror(err));
  return deserialize_safetensors(bytes, path);
}

}  // namespace kiln
