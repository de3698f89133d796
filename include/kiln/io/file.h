#pragma once
// Writing files so that a reader never sees half of one: write a temporary file next to the
// target, fsync it, rename it over the target, fsync the directory. On failure the previous
// file is left as it was.
#include <string>
#include <string_view>

namespace kiln::io {

// Throws kiln::Error naming the path and the system error.
void write_file_atomically(const std::string& path, std::string_view bytes);

// The whole file; throws kiln::Error naming the path when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace kiln::io
