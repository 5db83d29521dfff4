#pragma once
// The chat HTTP API: auth, sending messages, history, read receipts and
// files (streamed uploads, presigned downloads).
// Errors are application/problem+json. Independent of the transport so it
// can be tested without sockets or a broker.

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vigil/log.hpp>
#include <vigil/registry.hpp>

#include "blob_store.hpp"
#include "http_server.hpp"
#include "jwt.hpp"
#include "kafka_client.hpp"
#include "rate_limiter.hpp"
#include "signed_url.hpp"
#include "store.hpp"

namespace chat {

struct ApiOptions {
  /// PBKDF2 iterations for new passwords.
  int password_iterations = 600000;
  /// Threads that hash passwords, off the HTTP threads.
  std::size_t auth_threads = 2;
  /// Login and register attempts per username and per client address
  /// (429 with Retry-After beyond).
  RateLimiter::Options user_auth_limit{10, 10.0 / 60};
  RateLimiter::Options address_auth_limit{100, 5};
  /// Logins and registrations waiting for a hashing thread, at most, and
  /// how long one may wait (503 with Retry-After beyond either).
  std::size_t max_auth_queue = 64;
  std::chrono::milliseconds auth_queue_deadline{2000};
  /// Where uploaded files go (must outlive the service); without one the
  /// file routes answer 503.
  BlobStore* blobs = nullptr;
  /// Most bytes of files one user may have stored (507 beyond); 0: no limit.
  std::uint64_t user_quota_bytes = 10ULL << 30;
  /// Free space the blob store keeps: uploads that would eat into it are
  /// refused with 507 before the disk is full.
  std::uint64_t free_space_reserve_bytes = 1ULL << 30;
  /// Scheme and authority of download URLs, e.g. "https://chat.example"
  /// (never taken from the request's Host header).
  std::string public_url = "http://127.0.0.1:8080";
  /// Most members a group may have (its creator included).
  std::size_t max_group_members = 256;
  /// How long a download URL stays valid.
  std::int64_t download_url_ttl_seconds = 3600;
};

/// Thread-safety: handle() may run on many threads at once. No exception
/// leaves handle(): a store that cannot answer is a 503, anything else a
/// 500, and the process lives on.
class ApiService {
 public:
  using Clock = std::function<std::int64_t()>;  // ms since the epoch

  ApiService(Store& store, const JwtSigner& jwt, Publisher& publisher,
             vigil::Registry& metrics, vigil::LogSink log,
             ApiOptions options = {}, Clock clock = {});
  ~ApiService();

  /// Answers every route of the API (404/405 problems for others).
  void handle(Request&& req, Respond respond);

  /// For HttpServerOptions::stream_route: uploads (POST /v1/files) stream
  /// to the blob store; every other request is read as usual.
  StreamDecision stream_route(const RequestHeader& header);

  /// The route templates, for request metrics.
  static std::vector<std::string> routes();

  /// Creates the demo users (user_a/pass_a, user_b/pass_b) unless they exist.
  void create_demo_users();

  /// Replaces ApiOptions::public_url, e.g. once the port is known.
  void set_public_url(std::string url);

 private:
  void dispatch(Request&& req, const Respond& respond);
  /// The problem for an exception a handler threw (503 for
  /// StoreUnavailable, else 500), logged.
  Response failure(const std::exception& e);
  /// Login and register, after the rate limits, on the hashing threads.
  void authenticate_later(const Request& req, bool is_register,
                          const Respond& respond);
  Response refuse_auth(const char* reason, unsigned status,
                       std::chrono::seconds retry_after);
  void register_user(const nlohmann::json& body, const Respond& respond);
  void issue_token(const nlohmann::json& body, const Respond& respond);
  void send_message(const Request& req, const std::string& user,
                    Respond respond);
  /// A refusal unless `user` may post to `conversation` (creating it, as
  /// the original clients expect, when nobody uses its id yet) with
  /// `local_recipient` (a user id, or empty) among its members.
  std::optional<Response> admit_sender(const std::string& conversation,
                                       const std::string& user,
                                       const std::string& local_recipient);
  /// The message_id of `user`'s message sent with Idempotency-Key `key`.
  std::string idempotent_id(std::string_view user, std::string_view key) const;
  /// The user named by an id or a username, if any.
  std::optional<UserRecord> resolve_user(std::string_view name);
  void create_conversation(const Request& req, const std::string& user,
                           Respond respond);
  void list_conversations(const Request& req, const std::string& user,
                          Respond respond);
  /// GET /v1/conversations/{id}, and adding and removing members.
  void route_conversation(const Request& req,
                          const std::vector<std::string_view>& parts,
                          const std::string& user, Respond respond);
  void history(const Request& req, const std::string& conversation,
               const std::string& user, Respond respond);
  void mark_read(const std::string& message_id, const std::string& user,
                 Respond respond);
  /// A member who is the recipient; for a platform recipient, the sender
  /// (the platform's read receipt).
  bool may_mark_read(const MessageRecord& message, const std::string& user);
  void route_files(Request&& req, const std::vector<std::string_view>& parts,
                   Respond respond);
  void download_link(const std::string& file_id, const std::string& user,
                     Respond respond);
  void download_content(const Request& req, const std::string& file_id,
                        Respond respond);
  /// The token's subject, or empty after answering 401.
  std::string authenticate(const Request& req, const Respond& respond);
  /// The token's subject, or empty with the 401 to send in `refusal`.
  std::string authenticate(const RequestHeader& header, Response& refusal);

  class UploadSink;

  Store& store_;
  const JwtSigner& jwt_;
  Publisher& publisher_;
  vigil::LogSink log_;
  ApiOptions options_;
  std::mutex public_url_mutex_;  // guards options_.public_url
  Clock clock_;
  boost::asio::thread_pool auth_pool_;
  std::atomic<std::size_t> auth_queued_{0};
  /// Verified against when the username is unknown (see issue_token).
  const std::string unknown_user_hash_;
  RateLimiter user_limiter_;
  RateLimiter address_limiter_;
  vigil::Family<vigil::Counter>& auth_refused_;
  vigil::Counter accepted_;
  vigil::Histogram publish_duration_;
  UrlSigner url_signer_;
  const std::string idempotency_key_;
  vigil::Counter files_uploaded_;
  vigil::Counter file_bytes_uploaded_;
  vigil::Histogram upload_duration_;
};

/// A 405 problem with the Allow header.
Response method_not_allowed(std::string_view allow);

/// 128 random bits as lowercase hex, with `prefix`.
std::string random_id(std::string_view prefix);

/// Milliseconds since the epoch as RFC 3339 UTC.
std::string rfc3339(std::int64_t ms);

/// A file's metadata as the API shows it.
nlohmann::json file_json(const FileRecord& file);

}  // namespace chat
