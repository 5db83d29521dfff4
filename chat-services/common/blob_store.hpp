#pragma once
// Where uploaded file contents live. The API writes and reads blobs through
// this interface only, so the local directory can later give way to
// S3-compatible storage (a writer becomes a multipart upload, commit its
// completion, a source ranged GETs).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vigil/http/byte_source.hpp>

namespace chat {

/// A stored blob being read: random-access bytes of known size, which a
/// download streams from (vigil's ByteSource, so the server sends it as is).
using ByteSource = vigil::http::ByteSource;

/// A blob being written. Nothing is visible under its key until commit();
/// destroying an uncommitted writer discards what was written.
///
/// Thread-safety: one thread at a time.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  /// Throws std::runtime_error on I/O errors.
  virtual void write(std::string_view bytes) = 0;
  /// Makes the blob durable and visible under its key.
  virtual void commit() = 0;
};

/// Blobs by key. Keys are made by the service (`files/<conversation>/<id>`
/// from validated ids), never from client input.
///
/// Thread-safety: every member may be called from any thread.
///
///     auto writer = blobs.create("files/c1/f_123");
///     writer->write(chunk);
///     writer->commit();
///     auto source = blobs.open("files/c1/f_123");  // nullptr if absent
class BlobStore {
 public:
  virtual ~BlobStore() = default;
  /// Starts a blob; throws std::runtime_error if that is impossible.
  virtual std::unique_ptr<BlobWriter> create(const std::string& key) = 0;
  /// The blob's bytes, or nullptr when there is no such blob.
  virtual std::shared_ptr<ByteSource> open(const std::string& key) = 0;
  /// Deletes a blob; false when it did not exist.
  virtual bool remove(const std::string& key) = 0;
  /// Bytes that may still be written (free space for unprivileged users, on
  /// a local disk), so uploads can be refused before the disk is full.
  virtual std::uint64_t available_bytes() = 0;
};

/// Blobs as files under `root`: a key is a relative path of segments made
/// of [A-Za-z0-9_.:-] (anything else is refused with std::invalid_argument);
/// a segment starting with '.' (such as "..") is stored as "%2E..." so no key
/// leaves the root. Writes go to a hidden temporary file named after the
/// writing process that commit() fsyncs and renames into place.
///
/// Opening removes the partial files of writers that are gone (a crash
/// mid-upload leaves one) and counts them in `*removed_partials`. Several
/// processes may share `root` on one host: their partial files are kept
/// while they run.
std::unique_ptr<BlobStore> open_local_blob_store(
    const std::string& root, std::size_t* removed_partials = nullptr);

}  // namespace chat
