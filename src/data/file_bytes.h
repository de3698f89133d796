#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::data::detail {

// The whole content of `path`, gunzipped when it is a gzip file (zlib reads other files as they
// are). Throws kiln::Error naming `what` and the file when it cannot be opened or read, or when
// a gzip stream is truncated or corrupt.
std::vector<uint8_t> read_file_bytes(const std::string& path, const char* what);

// Whether `path` names an existing regular file.
bool file_exists(const std::string& path);

// Big-endian 32-bit integer at p (idx headers).
inline uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace kiln::data::detail
