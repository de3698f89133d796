#pragma once
// Writing files so that a reader never sees half of one: write a temporary file next to the
// target, fsync it, rename it over the target, fsync the directory. On failure the previous
// file is left as it was and the temporary file is removed.
#include <functional>
#include <string>
#include <string_view>

namespace kiln::io {

// `produce` is called once with a `write` function and writes the content in chunks through it
// (large checkpoints stream their tensors without assembling the file in memory). Throws
// kiln::Error naming `op`, the path, the step that failed and the system error.
using ChunkWriter = std::function<void(std::string_view chunk)>;
void write_file_atomically(const std::string& path,
                           const std::function<void(const ChunkWriter& write)>& produce,
                           const char* op = "write");
void write_file_atomically(const std::string& path, std::string_view bytes,
                           const char* op = "write");

// The whole file; throws kiln::Error naming the path when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace kiln::io
