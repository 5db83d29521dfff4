#pragma once
// The chat HTTP API: auth, sending messages, history and read receipts.
// Errors are application/problem+json. Independent of the transport so it
// can be tested without sockets or a broker.

#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vigil/log.hpp>
#include <vigil/registry.hpp>

#include "http_server.hpp"
#include "jwt.hpp"
#include "kafka_client.hpp"
#include "store.hpp"

namespace chat {

struct ApiOptions {
  /// PBKDF2 iterations for new passwords.
  int password_iterations = 600000;
  /// Threads that hash passwords, off the HTTP threads.
  std::size_t auth_threads = 2;
};

/// Thread-safety: handle() may run on many threads at once.
class ApiService {
 public:
  using Clock = std::function<std::int64_t()>;  // ms since the epoch

  ApiService(Store& store, const JwtSigner& jwt, Publisher& publisher,
             vigil::Registry& metrics, vigil::LogSink log,
             ApiOptions options = {}, Clock clock = {});
  ~ApiService();

  /// Answers every route of the API (404/405 problems for others).
  void handle(Request&& req, Respond respond);

  /// The route templates, for request metrics.
  static std::vector<std::string> routes();

  /// Creates the demo users (user_a/pass_a, user_b/pass_b) unless they exist.
  void create_demo_users();

 private:
  void register_user(const Request& req, Respond respond);
  void issue_token(const Request& req, Respond respond);
  void send_message(const Request& req, const std::string& user,
                    Respond respond);
  void history(const Request& req, const std::string& conversation,
               const std::string& user, Respond respond);
  void mark_read(const std::string& message_id, const std::string& user,
                 Respond respond);
  /// The recipient may; for a platform recipient, any participant.
  bool may_mark_read(const MessageRecord& message, const std::string& user);
  /// The token's subject, or empty after answering 401.
  std::string authenticate(const Request& req, const Respond& respond);

  Store& store_;
  const JwtSigner& jwt_;
  Publisher& publisher_;
  vigil::LogSink log_;
  ApiOptions options_;
  Clock clock_;
  boost::asio::thread_pool auth_pool_;
  vigil::Counter accepted_;
  vigil::Histogram publish_duration_;
};

/// A problem+json response (RFC 9457).
Response problem(unsigned status, std::string_view title,
                 std::string_view detail);

/// 128 random bits as lowercase hex, with `prefix`.
std::string random_id(std::string_view prefix);

}  // namespace chat
