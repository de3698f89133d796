#include "kiln/io/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/error.h"

namespace kiln::io {

namespace {

[[noreturn]] void fail(const char* op, const std::string& path, const std::string& step, int err) {
  throw Error(detail::concat(op, ": cannot write '", path, "': ", step, ": ", std::strerror(err)));
}

// Writes all of `chunk` to fd; false with errno set on failure.
bool write_all(int fd, std::string_view chunk) {
  const char* data = chunk.data();
  size_t n = chunk.size();
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= size_t(w);
  }
  return true;
}

}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(const ChunkWriter& write)>& produce,
                           const char* op) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;  // before anything else can change it
    fail(op, path, "creating '" + tmp + "'", err);
  }
  auto abandon = [&](const std::string& step, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(op, path, step, err);
  };
  try {
    produce([&](std::string_view chunk) {
      if (!write_all(fd, chunk)) {
        const int err = errno;
        fail(op, path, "writing '" + tmp + "'", err);
      }
    });
  } catch (...) {  // a failed write, or the producer's own error
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    abandon("flushing '" + tmp + "' to disk", err);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(op, path, "closing '" + tmp + "'", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(op, path, "renaming '" + tmp + "' over it", err);
  }
  // Make the rename itself durable. The new file is in place already, so a failure here is
  // reported but leaves a complete file.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    const int err = errno;
    fail(op, path, "opening its directory '" + dir + "' to flush it", err);
  }
  if (::fsync(dfd) != 0 && errno != EINVAL) {  // EINVAL: the filesystem cannot sync directories
    const int err = errno;
    ::close(dfd);
    fail(op, path, "flushing its directory '" + dir + "'", err);
  }
  ::close(dfd);
}

void write_file_atomically(const std::string& path, std::string_view bytes, const char* op) {
  write_file_atomically(
      path, [bytes](const ChunkWriter& write) { write(bytes); }, op);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad()) throw Error("cannot read '" + path + "': " + std::strerror(errno));
  return os.str();
}

}  // namespace kiln::io
