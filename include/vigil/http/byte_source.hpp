#pragma once

#include <cstddef>
#include <cstdint>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// Bytes a response streams from (a file, a blob), read piece by piece while
/// they are sent so that a download of any size uses constant memory. See
/// ResponseBody::value_type::stream().
///
/// Thread-safety: the server calls read_at() from one thread at a time per
/// response; a source shared by several responses must allow concurrent
/// read_at() calls.
///
///     class FileSource : public vigil::http::ByteSource {
///       std::uint64_t size() const override;
///       std::size_t read_at(std::uint64_t, char*, std::size_t) override;
///     };
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  /// The number of bytes the source holds.
  virtual std::uint64_t size() const = 0;
  /// Reads up to `capacity` bytes at `offset` into `out`; returns how many
  /// (0 only at the end). Throws std::runtime_error on I/O errors.
  virtual std::size_t read_at(std::uint64_t offset, char* out,
                              std::size_t capacity) = 0;
};

}  // namespace http
VIGIL_NAMESPACE_END
