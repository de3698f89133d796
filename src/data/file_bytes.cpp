#include "data/file_bytes.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "kiln/error.h"

namespace kiln::data::detail {

std::vector<uint8_t> read_file_bytes(const std::string& path, const char* what) {
  errno = 0;
  gzFile f = gzopen(path.c_str(), "rb");
  KILN_CHECK(f != nullptr, what, ": cannot open '", path,
             "': ", errno ? std::strerror(errno) : "out of memory");
  std::vector<uint8_t> out;
  constexpr size_t kChunk = size_t(1) << 20;
  while (true) {
    const size_t at = out.size();
    out.resize(at + kChunk);
    const int got = gzread(f, out.data() + at, unsigned(kChunk));
    if (got < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      KILN_CHECK(false, what, ": cannot read '", path,
                 "': ", code == Z_ERRNO ? std::strerror(errno) : msg.c_str(),
                 " (truncated or corrupt gzip data?)");
    }
    out.resize(at + size_t(got));
    if (got == 0) break;
  }
  // A gzip stream cut short can end in a clean-looking EOF; zlib then reports it here.
  int code = 0;
  std::string msg = gzerror(f, &code);
  const int close_rc = gzclose(f);
  KILN_CHECK(code == Z_OK || code == Z_STREAM_END, what, ": cannot read '", path, "': ", msg,
             " (truncated or corrupt gzip data?)");
  KILN_CHECK(close_rc == Z_OK, what, ": cannot read '", path,
             "': the gzip stream is truncated or corrupt (zlib code ", close_rc, ")");
  return out;
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace kiln::data::detail
