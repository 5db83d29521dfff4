// The local-directory BlobStore.
#include "blob_store.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace chat {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

/// The relative path of `key`. A segment starting with '.' ("..", or a
/// conversation named ".x") is stored as "%2E..." instead: the key keeps
/// its meaning, the path never leaves the root or hides, and temporary files
/// (which start with '.') never clash with a blob.
fs::path key_path(const std::string& key) {
  fs::path path;
  std::size_t start = 0;
  while (true) {
    const auto slash = key.find('/', start);
    const std::string segment = key.substr(start, slash - start);
    if (segment.empty() || segment.size() > 255 ||
        segment.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") !=
            std::string::npos) {
      throw std::invalid_argument("invalid blob key: " + key);
    }
    path /= segment[0] == '.' ? "%2E" + segment.substr(1) : segment;
    if (slash == std::string::npos) return path;
    start = slash + 1;
  }
}

/// Whether the process that wrote temporary file `name` (".<blob>.<pid>.
/// XXXXXX") still runs. Names without a pid (older writers) count as gone.
bool writer_alive(const std::string& name) {
  const auto last = name.rfind('.');
  const auto before = last == std::string::npos || last == 0
                          ? std::string::npos
                          : name.rfind('.', last - 1);
  if (before == std::string::npos) return false;
  const std::string digits = name.substr(before + 1, last - before - 1);
  if (digits.empty() ||
      digits.find_first_not_of("0123456789") != std::string::npos ||
      digits.size() > 9) {
    return false;
  }
  const auto pid = static_cast<pid_t>(std::stol(digits));
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

class FileSource final : public ByteSource {
 public:
  FileSource(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  ~FileSource() override { ::close(fd_); }
  std::uint64_t size() const override { return size_; }
  std::size_t read_at(std::uint64_t offset, char* out,
                      std::size_t capacity) override {
    while (true) {
      const ssize_t n = ::pread(fd_, out, capacity, static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) throw_errno("reading a blob");
    }
  }

 private:
  int fd_;
  std::uint64_t size_;
};

class FileWriter final : public BlobWriter {
 public:
  explicit FileWriter(fs::path final_path) : final_(std::move(final_path)) {
    // The writer's pid in the name tells a later start-up whose partial
    // file it is (see sweep_partials).
    std::string pattern =
        (final_.parent_path() / ("." + final_.filename().string() + "." +
                                 std::to_string(::getpid()) + ".XXXXXX"))
            .string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    fd_ = ::mkostemp(buffer.data(), O_CLOEXEC);
    if (fd_ < 0) throw_errno("creating " + pattern);
    temp_ = buffer.data();
  }
  ~FileWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  void write(std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("writing " + temp_);
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  void commit() override {
    if (::fsync(fd_) != 0) throw_errno("syncing " + temp_);
    ::close(fd_);
    fd_ = -1;
    if (::rename(temp_.c_str(), final_.c_str()) != 0) {
      throw_errno("renaming " + temp_);
    }
    committed_ = true;
    // The rename itself must survive a crash too.
    const int dir =
        ::open(final_.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }

 private:
  fs::path final_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

class LocalBlobStore final : public BlobStore {
 public:
  explicit LocalBlobStore(fs::path root) : root_(std::move(root)) {
    fs::create_directories(root_);
  }

  std::unique_ptr<BlobWriter> create(const std::string& key) override {
    const fs::path path = root_ / key_path(key);
    fs::create_directories(path.parent_path());
    return std::make_unique<FileWriter>(path);
  }

  std::shared_ptr<ByteSource> open(const std::string& key) override {
    const fs::path path = root_ / key_path(key);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return nullptr;
      throw_errno("opening " + path.string());
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      throw_errno("stat " + path.string());
    }
    return std::make_shared<FileSource>(fd,
                                        static_cast<std::uint64_t>(st.st_size));
  }

  bool remove(const std::string& key) override {
    return ::unlink((root_ / key_path(key)).c_str()) == 0;
  }

  std::uint64_t available_bytes() override {
    struct statvfs st {};
    if (::statvfs(root_.c_str(), &st) != 0) throw_errno("statvfs " + root_.string());
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }

  /// Removes the partial files of writers that no longer run. A blob's
  /// segments never start with '.' (key_path), so every such file is a
  /// writer's temporary `.<name>.<pid>.XXXXXX`.
  std::size_t sweep_partials() {
    std::size_t removed = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root_, ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name[0] != '.' || !it->is_regular_file(ec)) continue;
      if (writer_alive(name)) continue;
      if (::unlink(it->path().c_str()) == 0) ++removed;
    }
    return removed;
  }

 private:
  fs::path root_;
};

}  // namespace

std::unique_ptr<BlobStore> open_local_blob_store(const std::string& root,
                                                 std::size_t* removed_partials) {
  auto store = std::make_unique<LocalBlobStore>(root);
  const std::size_t removed = store->sweep_partials();
  if (removed_partials) *removed_partials = removed;
  return store;
}

}  // namespace chat
