#pragma once
// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors):
//   8 bytes    N, the header length, unsigned little-endian
//   N bytes    a JSON object {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
//              ..., "__metadata__": {"key": "value"}}, padded with spaces to a multiple of 8
//   the rest   the tensors' bytes, little-endian, row-major, offsets relative to this buffer
// dtypes: F64 F32 F16 BF16 I64 I32 U8 BOOL. Files load in PyTorch, JAX and NumPy through the
// safetensors package, and theirs load here.
#include <string>
#include <string_view>

#include "kiln/io/state_dict.h"

namespace kiln {

// Writes `state` (tensors in its order; tensors on other devices are copied to the CPU) and its
// metadata to `path`, atomically: the bytes go to `<path>.tmp.<pid>`, which is flushed to disk
// and renamed over `path`, then the directory is flushed. On failure kiln::Error names the file
// and the cause, and a previous file at `path` is left as it was.
void save_safetensors(const std::string& path, const StateDict& state);

// Reads a file written by any safetensors writer, tensors in header order. Every part is checked
// (header length, JSON syntax, dtypes, shapes against byte lengths, offsets that cover the data
// buffer exactly without overlap, duplicate names); on failure kiln::Error names the file and the
// problem.
StateDict load_safetensors(const std::string& path);

// The same, in memory: the file's bytes, and a StateDict read back from them (`source` names
// them in errors).
std::string serialize_safetensors(const StateDict& state);
StateDict deserialize_safetensors(std::string_view bytes, const std::string& source = "<memory>");

// The format's dtype names ("F32", ...) and back (kiln::TypeError for an unknown name).
const char* safetensors_dtype_name(DType dtype);
DType safetensors_dtype_from_name(const std::string& name);

}  // namespace kiln
