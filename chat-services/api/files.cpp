// The file routes of the API: streamed multipart uploads into the blob
// store, and presigned download URLs served by the API itself.
//
// Access: only members of a conversation may upload to it or get a download
// URL for its files; to anybody else the conversation does not exist (404).
// A download URL itself needs no token: like an S3 presigned URL it is the
// permission, for one file, until it expires.
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <memory>
#include <stdexcept>

#include "api_service.hpp"
#include "multipart.hpp"
#include "validation.hpp"

namespace chat {
namespace {

namespace bhttp = boost::beast::http;
using nlohmann::json;

constexpr const char* kService = "chat-api";
/// conversation_id and other small fields are buffered, so bounded.
constexpr std::size_t kMaxFieldBytes = 1024;

std::string hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

/// A client's Content-Type, if it is a plausible media type; else the
/// generic one (it is echoed in downloads, so nothing that could break a
/// header line).
std::string media_type(const std::string& given) {
  return valid_media_type(given) ? given : "application/octet-stream";
}

/// RFC 8187 encoding for Content-Disposition's filename*.
std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) ||
        std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

constexpr const char* kStorageFull =
    "the server's file storage is full; retry later";

/// 507 for a disk near its reserve: space may come back (an operator, other
/// uploads' partial files), so say when to try again.
Response storage_full() {
  Response res = problem(507, "Insufficient Storage", kStorageFull);
  res.set(bhttp::field::retry_after, "60");
  return res;
}

std::string quota_used_up(std::uint64_t quota) {
  return "the upload would exceed your storage quota of " +
         std::to_string(quota) + " bytes";
}

/// Not under the conversation: the file part may arrive before the form
/// says which conversation it is for.
std::string blob_key(const std::string& file_id) { return "files/" + file_id; }

/// A form field's name fit for an error message and a log line: printable
/// ASCII only (a name in another encoding must never reach a log raw).
std::string printable_name(const std::string& name) {
  const bool printable =
      name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u < 0x7f;
      });
  return printable ? "'" + name + "'" : "(a name that is not printable ASCII)";
}

}  // namespace

json file_json(const FileRecord& file) {
  return {{"file_id", file.file_id},
          {"conversation_id", file.conversation_id},
          {"filename", file.filename},
          {"size", file.size},
          {"content_type", file.content_type},
          {"checksum", file.checksum},
          {"uploaded_at", rfc3339(file.uploaded_at_ms)}};
}

/// One upload: parses the multipart body as it streams in and writes the
/// file to an uncommitted blob while hashing it, so memory stays constant
/// whatever the size. `conversation_id` and `file` may come in either order
/// (curl and k6 send the file first): the blob becomes visible only once the
/// form has named a conversation the uploader is a member of. Destroyed
/// unfinished or refused, it leaves nothing behind (the blob writer discards
/// its partial file).
class ApiService::UploadSink final : public BodySink, MultipartHandler {
 public:
  UploadSink(ApiService& api, std::string user, std::string boundary,
             std::uint64_t used_bytes)
      : api_(api),
        user_(std::move(user)),
        used_bytes_(used_bytes),
        started_(std::chrono::steady_clock::now()),
        parser_(std::move(boundary), *this),
        digest_(EVP_MD_CTX_new()) {
    if (!digest_ ||
        EVP_DigestInit_ex(digest_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("cannot start a SHA-256 digest");
    }
  }

  std::optional<Response> write(std::string_view bytes) override {
    try {
      if (parser_.feed(bytes)) return std::nullopt;
    } catch (const std::exception& e) {
      return api_.failure(e);  // the store or the disk failed
    }
    return refuse(status_, parser_.error());
  }

  void finish(Respond respond) override {
    try {
      complete(respond);
    } catch (const std::exception& e) {
      respond(api_.failure(e));
    }
  }

  void rejected(unsigned status) override {
    vigil::LogLine(api_.log_, "warn", kService, "file_upload_failed")
        .field("user_id", user_)
        .field("status", status)
        .field("received_bytes", record_.size)
        .emit();
  }

 private:
  struct DigestFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };

  void complete(const Respond& respond) {
    if (parser_.failed()) return respond(refuse(status_, parser_.error()));
    if (!parser_.done()) {
      return respond(refuse(400, "the multipart body is truncated"));
    }
    if (!file_done_) return respond(refuse(400, "the form has no file part"));
    if (record_.conversation_id.empty()) {
      return respond(refuse(400, "the form has no conversation_id"));
    }
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int sum_size = 0;
    if (EVP_DigestFinal_ex(digest_.get(), sum, &sum_size) != 1) {
      throw std::runtime_error("SHA-256 failed");
    }
    record_.checksum = hex(sum, sum_size);
    record_.uploaded_at_ms = api_.clock_();
    writer_->commit();
    try {
      if (!api_.store_.add_file(record_)) {
        throw std::runtime_error("file id collision");
      }
    } catch (...) {
      api_.options_.blobs->remove(record_.blob_key);
      throw;
    }
    const double seconds = std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - started_)
                               .count();
    api_.files_uploaded_.inc();
    api_.file_bytes_uploaded_.inc(static_cast<double>(record_.size));
    api_.upload_duration_.observe(seconds);
    vigil::LogLine(api_.log_, "info", kService, "file_uploaded")
        .field("file_id", record_.file_id)
        .field("conversation_id", record_.conversation_id)
        .field("user_id", user_)
        .field("size", record_.size)
        .field("duration_s", seconds)
        .emit();
    respond(json_response(201, file_json(record_).dump()));
  }

  bool on_part_begin(const PartHeaders& part, std::string& why) override {
    if (part.name == "conversation_id" && !conversation_seen_) {
      conversation_seen_ = in_conversation_ = true;
      return true;
    }
    if (part.name == "file" && !writer_) {
      record_.file_id = random_id("f_");
      record_.uploader_id = user_;
      record_.filename =
          sanitize_filename(part.has_filename ? part.filename : "");
      record_.content_type = media_type(part.content_type);
      record_.blob_key = blob_key(record_.file_id);
      writer_ = api_.options_.blobs->create(record_.blob_key);
      return true;
    }
    return fail(400,
                "unexpected form field " + printable_name(part.name) +
                    " (send conversation_id and file, once each)",
                why);
  }

  bool on_part_data(std::string_view data, std::string& why) override {
    if (in_conversation_) {
      if (conversation_.size() + data.size() > kMaxFieldBytes) {
        return fail(400, "conversation_id is too long", why);
      }
      conversation_.append(data);
      return true;
    }
    if (!room_for(data.size(), why)) return false;
    if (EVP_DigestUpdate(digest_.get(), data.data(), data.size()) != 1) {
      throw std::runtime_error("SHA-256 failed");
    }
    writer_->write(data);
    record_.size += data.size();
    return true;
  }

  bool on_part_end(std::string& why) override {
    if (!in_conversation_) {
      file_done_ = true;
      return true;
    }
    in_conversation_ = false;
    if (!valid_conversation_id(conversation_)) {
      return fail(400,
                  "conversation_id must be 1-128 characters of "
                  "[A-Za-z0-9_.:+-]",
                  why);
    }
    if (!api_.store_.member_role(conversation_, user_)) {
      return fail(404, "no such conversation", why);
    }
    record_.conversation_id = conversation_;
    return true;
  }

  /// Whether `more` bytes of file fit the uploader's quota and leave the
  /// disk its reserve (checked every MiB: statvfs is a system call).
  bool room_for(std::size_t more, std::string& why) {
    const auto& o = api_.options_;
    if (o.user_quota_bytes > 0 &&
        used_bytes_ + record_.size + more > o.user_quota_bytes) {
      return fail(507, quota_used_up(o.user_quota_bytes), why);
    }
    unchecked_bytes_ += more;
    if (checked_once_ && unchecked_bytes_ < (1u << 20)) return true;
    checked_once_ = true;
    unchecked_bytes_ = 0;
    if (o.blobs->available_bytes() < o.free_space_reserve_bytes + more) {
      return fail(507, kStorageFull, why);
    }
    return true;
  }

  bool fail(unsigned status, std::string detail, std::string& why) {
    status_ = status;
    why = std::move(detail);
    return false;
  }
  Response refuse(unsigned status, const std::string& detail) {
    vigil::LogLine(api_.log_, "warn", kService, "file_upload_refused")
        .field("user_id", user_)
        .field("status", status)
        .field("reason", detail)
        .emit();
    if (status == 507 && detail == kStorageFull) return storage_full();
    return problem(status,
                   status == 404   ? "Not Found"
                   : status == 507 ? "Insufficient Storage"
                                   : "Bad Request",
                   detail);
  }

  ApiService& api_;
  const std::string user_;
  const std::uint64_t used_bytes_;  // by this user's stored files
  std::uint64_t unchecked_bytes_ = 0;  // written since the last statvfs
  bool checked_once_ = false;
  const std::chrono::steady_clock::time_point started_;
  MultipartParser parser_;
  std::unique_ptr<EVP_MD_CTX, DigestFree> digest_;
  unsigned status_ = 400;  // for the failure the parser reports
  std::string conversation_;
  bool conversation_seen_ = false;
  bool in_conversation_ = false;
  bool file_done_ = false;
  FileRecord record_;
  std::unique_ptr<BlobWriter> writer_;
};

StreamDecision ApiService::stream_route(const RequestHeader& header) {
  const auto target = header.target();
  const std::string_view view(target.data(), target.size());
  if (view.substr(0, view.find('?')) != "/v1/files" ||
      header.method() != bhttp::verb::post) {
    return {};
  }
  Response refusal;
  std::string user = authenticate(header, refusal);
  if (user.empty()) return refusal;
  if (!options_.blobs) {
    return problem(503, "Service Unavailable", "file storage is not set up");
  }
  const auto type = header[bhttp::field::content_type];
  const auto boundary =
      multipart_boundary(std::string_view(type.data(), type.size()));
  if (!boundary) {
    return problem(415, "Unsupported Media Type",
                   "send multipart/form-data with a boundary");
  }
  // The server calls this outside handle(): the same answers for failures.
  try {
    const std::uint64_t used = store_.bytes_uploaded_by(user);
    // An announced size that cannot fit is refused before any byte is
    // read (allowing for the form around the file); the file itself is
    // checked as it arrives.
    const auto length_text = header[bhttp::field::content_length];
    std::uint64_t length = 0;
    std::from_chars(length_text.data(), length_text.data() + length_text.size(),
                    length);
    constexpr std::uint64_t kFormOverhead = 64 * 1024;
    if (options_.user_quota_bytes > 0 &&
        used + length > options_.user_quota_bytes + kFormOverhead) {
      return problem(507, "Insufficient Storage",
                     quota_used_up(options_.user_quota_bytes));
    }
    if (options_.blobs->available_bytes() <
        options_.free_space_reserve_bytes + length) {
      return storage_full();
    }
    return std::make_unique<UploadSink>(*this, std::move(user), *boundary,
                                        used);
  } catch (const std::exception& e) {
    return failure(e);
  }
}

void ApiService::route_files(Request&& req,
                             const std::vector<std::string_view>& parts,
                             Respond respond) {
  const auto method = req.method();
  if (parts.size() == 2) {
    if (method != bhttp::verb::post) return respond(method_not_allowed("POST"));
    // Without a server that streams (tests, fuzzing), the body is here
    // whole: it goes through the same sink.
    StreamDecision decision = stream_route(req);
    if (auto* answer = std::get_if<Response>(&decision)) {
      return respond(std::move(*answer));
    }
    auto& sink = std::get<std::unique_ptr<BodySink>>(decision);
    if (auto stop = sink->write(req.body())) return respond(std::move(*stop));
    return sink->finish(std::move(respond));
  }
  const bool link = parts.size() == 4 && parts[3] == "download";
  const bool content = parts.size() == 4 && parts[3] == "content";
  if ((!link && !content) || parts[2].empty()) {
    return respond(problem(404, "Not Found", "no such resource"));
  }
  if (method != bhttp::verb::get &&
      !(content && method == bhttp::verb::head)) {
    return respond(method_not_allowed(content ? "GET, HEAD" : "GET"));
  }
  const std::string file_id(parts[2]);
  if (content) return download_content(req, file_id, std::move(respond));
  const std::string user = authenticate(req, respond);
  if (user.empty()) return;
  download_link(file_id, user, std::move(respond));
}

void ApiService::download_link(const std::string& file_id,
                               const std::string& user, Respond respond) {
  // Non-members get the same 404 as for a file that does not exist.
  const auto file = store_.file(file_id);
  if (!file || !store_.member_role(file->conversation_id, user)) {
    return respond(problem(404, "Not Found", "no such file"));
  }
  // Never the request's Host: a forged one would make the API hand out
  // links to another site.
  std::string base;
  {
    std::lock_guard<std::mutex> lock(public_url_mutex_);
    base = options_.public_url;
  }
  const std::int64_t ttl = options_.download_url_ttl_seconds;
  const std::string target = url_signer_.sign(
      "/v1/files/" + file_id + "/content", clock_() / 1000 + ttl);
  respond(json_response(200, json{{"download_url", base + target},
                                  {"expires_in", ttl},
                                  {"filename", file->filename},
                                  {"size", file->size},
                                  {"content_type", file->content_type}}
                                 .dump()));
}

void ApiService::download_content(const Request& req,
                                  const std::string& file_id, Respond respond) {
  const auto target = req.target();
  const auto check = url_signer_.verify(
      std::string_view(target.data(), target.size()), clock_() / 1000);
  if (check != UrlSigner::Check::kValid) {
    return respond(problem(403, "Forbidden",
                           check == UrlSigner::Check::kExpired
                               ? "the download URL has expired"
                               : "the download URL is not valid"));
  }
  const auto file = store_.file(file_id);
  const auto source =
      file && options_.blobs ? options_.blobs->open(file->blob_key) : nullptr;
  if (!source) return respond(problem(404, "Not Found", "no such file"));
  const std::uint64_t size = source->size();
  ByteRange range{0, size == 0 ? 0 : size - 1};
  const auto header = req[bhttp::field::range];
  const RangeCheck ranged =
      parse_range(std::string_view(header.data(), header.size()), size, range);
  if (ranged == RangeCheck::kUnsatisfiable) {
    Response res = problem(416, "Range Not Satisfiable",
                           "the file has " + std::to_string(size) + " bytes");
    res.set(bhttp::field::content_range, "bytes */" + std::to_string(size));
    return respond(std::move(res));
  }
  const bool partial = ranged == RangeCheck::kSatisfiable;
  Response res{partial ? bhttp::status::partial_content : bhttp::status::ok,
               11};
  res.set(bhttp::field::content_type, file->content_type);
  res.set(bhttp::field::accept_ranges, "bytes");
  res.set(bhttp::field::content_disposition,
          "attachment; filename*=UTF-8''" + percent_encode(file->filename));
  if (partial) {
    res.set(bhttp::field::content_range,
            "bytes " + std::to_string(range.first) + "-" +
                std::to_string(range.last) + "/" + std::to_string(size));
  }
  const std::uint64_t length = size == 0 ? 0 : range.last - range.first + 1;
  res.body().stream(source, range.first, length);
  res.prepare_payload();
  respond(std::move(res));
}

}  // namespace chat
