#pragma once

#include <zlib.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {
namespace detail {

/// Replaces `out` with the gzip member (RFC 1952) of `in`, in one deflate
/// call sized by deflateBound so no output buffer is ever regrown. Throws
/// std::runtime_error if zlib fails (out of memory).
inline void gzip_compress(std::string_view in, std::string& out, int level) {
  // Half the range leaves room for deflateBound's overhead in a uInt.
  if (in.size() > std::numeric_limits<uInt>::max() / 2) {
    throw std::length_error("vigil: body too large for gzip");
  }
  z_stream zs{};
  // windowBits 15 + 16 asks zlib for a gzip header and trailer.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::runtime_error("vigil: deflateInit2 failed");
  }
  out.resize(deflateBound(&zs, static_cast<uLong>(in.size())));
  // zlib's API is not const-correct; it never writes through next_in.
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    throw std::runtime_error("vigil: deflate failed");
  }
}

}  // namespace detail
}  // namespace http
VIGIL_NAMESPACE_END
