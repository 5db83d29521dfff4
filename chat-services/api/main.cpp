// chat-api: the chat HTTP API on 8080, with vigil's /metrics and /health*
// mounted on the same port.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vigil/http/health.hpp>
#include <vigil/process_collector.hpp>

#include "api_service.hpp"
#include "base64url.hpp"
#include "flags.hpp"
#include "kafka_client.hpp"
#include "server_flags.hpp"
#include "service.hpp"
#include "store_health.hpp"

namespace {

constexpr const char* kService = "chat-api";

/// The configured secret, or one generated once and kept in the data
/// directory so tokens survive restarts. The file is created with mode 0600
/// (not chmod'ed after writing, which leaves a moment in which others may
/// read it), exclusively: of two APIs starting at once, one writes it and
/// the other reads what it wrote.
std::string jwt_secret(const std::string& configured,
                       const std::string& data_dir) {
  if (!configured.empty()) return configured;
  const std::string path = data_dir + "/jwt.secret";
  const std::string fresh = chat::random_id("") + chat::random_id("");
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    const std::string line = fresh + "\n";
    const bool written = write(fd, line.data(), line.size()) ==
                             static_cast<ssize_t>(line.size()) &&
                         fsync(fd) == 0;
    close(fd);
    if (!written) {
      unlink(path.c_str());
      throw std::runtime_error("cannot write " + path);
    }
    return fresh;
  }
  if (errno != EEXIST) {
    throw std::runtime_error("cannot create " + path + ": " +
                             std::strerror(errno));
  }
  // Another process may be writing it right now: wait for the whole line.
  std::string secret;
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::ifstream in(path);
    if (std::getline(in, secret) && secret.size() >= 32 && !in.eof()) {
      return secret;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error(path + " holds no secret of at least 32 characters");
}

}  // namespace

int main(int argc, char** argv) {
  chat::Flags flags(kService, "The chat HTTP API.");
  flags.add("bind", "CHAT_BIND", "127.0.0.1", "address to listen on")
      .add("port", "CHAT_API_PORT", "8080", "port (0: any free port)")
      .add("brokers", "KAFKA_BROKERS", "127.0.0.1:9092",
           "Kafka bootstrap servers")
      .add("data-dir", "CHAT_DATA_DIR", "data",
           "directory of the SQLite store and the generated JWT secret")
      .add("store-url", "CHAT_STORE_URL", "",
           "the store: a postgresql:// URL, or a SQLite file (default: "
           "<data-dir>/chat.db)")
      .add("jwt-secret", "CHAT_JWT_SECRET", "",
           "HS256 secret, at least 32 bytes (default: generated once and "
           "kept in the data directory)")
      .add("demo-users", "CHAT_DEMO_USERS", "false",
           "create user_a/pass_a and user_b/pass_b (true/false; only for "
           "development stacks: anybody knows their passwords)")
      .add("password-iterations", "CHAT_PASSWORD_ITERATIONS", "600000",
           "PBKDF2-HMAC-SHA256 iterations for new passwords")
      .add("threads", "CHAT_API_THREADS", "2", "HTTP threads")
      .add("publish-timeout-ms", "CHAT_PUBLISH_TIMEOUT_MS", "5000",
           "how long a message may wait for Kafka before the API answers 503")
      .add("max-body-bytes", "CHAT_MAX_BODY_BYTES", "65536",
           "largest request body (413 beyond), except uploads")
      .add("max-upload-bytes", "CHAT_MAX_UPLOAD_BYTES", "2147483648",
           "largest POST /v1/files body (413 beyond); it streams to disk")
      .add("blob-dir", "CHAT_BLOB_DIR", "",
           "directory of uploaded files (default: <data-dir>/blobs, apart "
           "from the database; put it on another disk to keep uploads from "
           "filling the database's)")
      .add("user-quota-bytes", "CHAT_USER_QUOTA_BYTES", "10737418240",
           "most bytes of files one user may store (507 beyond; 0: no limit)")
      .add("free-space-reserve-bytes", "CHAT_FREE_SPACE_RESERVE_BYTES",
           "1073741824",
           "free space uploads must leave in the blob directory (507 "
           "beyond)")
      .add("public-url", "CHAT_PUBLIC_URL", "",
           "scheme and authority of download URLs, e.g. https://chat.example "
           "(default: http://<bind>:<port>; never the request's Host)")
      .add("max-group-members", "CHAT_MAX_GROUP_MEMBERS", "256",
           "most members a group conversation may have")
      .add("store-busy-timeout-ms", "CHAT_STORE_BUSY_TIMEOUT_MS", "5000",
           "how long a request waits for the store's write lock before it "
           "answers 503")
      .add("liveness-threshold-ms", "CHAT_API_LIVENESS_THRESHOLD_MS", "30000",
           "/health/live fails when the Kafka delivery loop has not turned "
           "for this long")
      .add("login-burst-per-user", "CHAT_LOGIN_BURST_PER_USER", "10",
           "login and register attempts per username at once (429 beyond)")
      .add("logins-per-minute-per-user", "CHAT_LOGINS_PER_MINUTE_PER_USER",
           "10", "and then per minute")
      .add("login-burst-per-address", "CHAT_LOGIN_BURST_PER_ADDRESS", "100",
           "login and register attempts per client address at once (429 "
           "beyond)")
      .add("logins-per-minute-per-address",
           "CHAT_LOGINS_PER_MINUTE_PER_ADDRESS", "300", "and then per minute")
      .add("max-login-queue", "CHAT_MAX_LOGIN_QUEUE", "64",
           "logins and registrations waiting for a hashing thread (503 "
           "beyond)")
      .add("login-queue-wait-ms", "CHAT_LOGIN_QUEUE_WAIT_MS", "2000",
           "how long one may wait for a hashing thread (503 beyond)")
      .add("metrics-auth", "CHAT_METRICS_AUTH", "",
           "credentials /metrics requires: bearer:<token> or "
           "basic:<user>:<password> (default: open; prefer the environment "
           "variable, which ps does not show)");
  chat::add_server_limit_flags(flags, "CHAT_API");
  chat::add_kafka_config_flag(flags);
  flags.parse(argc, argv);
  const std::string demo_users = flags.str("demo-users");
  if (demo_users != "true" && demo_users != "false") {
    std::fprintf(stderr, "%s: --demo-users must be true or false\n", kService);
    return 2;
  }
  const vigil::LogSink log = vigil::stderr_log_sink();
  vigil::http::Auth metrics_auth;
  try {
    metrics_auth = chat::parse_metrics_auth(flags.str("metrics-auth"));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: --metrics-auth: %s\n", kService, e.what());
    return 2;
  }
  const chat::Signals signals;

  return chat::run_service(kService, log, [&] {
    chat::apply_kafka_config(flags);
    const std::string data_dir = flags.str("data-dir");
    std::filesystem::create_directories(data_dir);
    chat::SqliteStoreOptions store_options;
    store_options.busy_timeout = std::chrono::milliseconds(
        flags.integer("store-busy-timeout-ms", 10, 600000));
    const std::string store_url = flags.str("store-url");
    auto store = chat::open_store(
        store_url.empty() ? data_dir + "/chat.db" : store_url, store_options);
    const chat::JwtSigner jwt(jwt_secret(flags.str("jwt-secret"), data_dir));

    vigil::Registry registry;
    registry.include(std::make_shared<vigil::ProcessCollector>());
    // Declared before what uses them, so destroyed after: the health
    // checks' threads stop before the publisher they query goes. The
    // delivery loop answers every accepted message, so it is what liveness
    // watches (it turns every 50 ms when healthy).
    chat::Watchdog delivery_watchdog(
        "kafka_delivery_loop", std::chrono::milliseconds(flags.integer(
                                   "liveness-threshold-ms", 1000, 3600000)));
    chat::KafkaPublisher publisher(flags.str("brokers"),
                                   std::chrono::milliseconds(flags.integer(
                                       "publish-timeout-ms", 100, 600000)),
                                   {}, &delivery_watchdog);
    vigil::http::HealthRegistry health(registry);
    chat::add_liveness_check(health, delivery_watchdog);
    vigil::http::CheckOptions kafka_check;
    kafka_check.probes = vigil::http::Probe::kReadiness;
    kafka_check.interval = std::chrono::milliseconds(1000);
    kafka_check.timeout = std::chrono::milliseconds(2000);
    kafka_check.component_type = "queue";
    health.add_check("kafka", kafka_check, [&publisher] {
      return publisher.check_broker(std::chrono::milliseconds(1000))
                 ? vigil::http::CheckResult::pass()
                 : vigil::http::CheckResult::fail("broker unreachable");
    });
    // Every request but the health probes needs the store.
    chat::add_store_readiness_check(health, *store);

    // Uploaded files live in a directory of their own, as files/<file_id>.
    std::string blob_dir = flags.str("blob-dir");
    if (blob_dir.empty()) blob_dir = data_dir + "/blobs";
    std::size_t partials = 0;
    const auto blobs = chat::open_local_blob_store(blob_dir, &partials);
    if (partials > 0) {
      vigil::LogLine(log, "warn", kService, "partial_uploads_removed")
          .field("files", partials)
          .field("blob_dir", blob_dir)
          .emit();
    }
    chat::ApiOptions api_options;
    api_options.password_iterations =
        static_cast<int>(flags.integer("password-iterations", 1000, 10000000));
    api_options.blobs = blobs.get();
    auto limit = [&](const char* burst, const char* per_minute) {
      return chat::RateLimiter::Options{
          static_cast<double>(flags.integer(burst, 1, 1000000)),
          static_cast<double>(flags.integer(per_minute, 1, 6000000)) / 60};
    };
    api_options.user_auth_limit =
        limit("login-burst-per-user", "logins-per-minute-per-user");
    api_options.address_auth_limit =
        limit("login-burst-per-address", "logins-per-minute-per-address");
    api_options.max_auth_queue =
        static_cast<std::size_t>(flags.integer("max-login-queue", 1, 100000));
    api_options.auth_queue_deadline = std::chrono::milliseconds(
        flags.integer("login-queue-wait-ms", 10, 600000));
    api_options.user_quota_bytes = static_cast<std::uint64_t>(
        flags.integer("user-quota-bytes", 0, std::int64_t{1} << 60));
    api_options.free_space_reserve_bytes = static_cast<std::uint64_t>(
        flags.integer("free-space-reserve-bytes", 0, std::int64_t{1} << 60));
    api_options.public_url = flags.str("public-url");
    api_options.max_group_members =
        static_cast<std::size_t>(flags.integer("max-group-members", 2, 100000));
    chat::ApiService api(*store, jwt, publisher, registry, log, api_options);
    if (demo_users == "true") api.create_demo_users();

    chat::HttpServerOptions server_options;
    server_options.bind = flags.str("bind");
    server_options.port =
        static_cast<std::uint16_t>(flags.integer("port", 0, 65535));
    server_options.threads =
        static_cast<std::size_t>(flags.integer("threads", 1, 64));
    server_options.max_body_bytes = static_cast<std::size_t>(
        flags.integer("max-body-bytes", 1024, 64 * 1024 * 1024));
    server_options.max_stream_bytes = static_cast<std::uint64_t>(
        flags.integer("max-upload-bytes", 1, std::int64_t{1} << 50));
    chat::apply_server_limit_flags(flags, server_options);
    const auto publish_timeout = std::chrono::milliseconds(
        flags.integer("publish-timeout-ms", 100, 600000));
    if (server_options.handler_timeout.count() > 0 &&
        server_options.handler_timeout <= publish_timeout) {
      throw std::runtime_error(
          "--handler-timeout-ms must exceed --publish-timeout-ms, or every "
          "slow publish is answered 503 by the server instead of the API");
    }
    if (server_options.drain_timeout <= publish_timeout) {
      throw std::runtime_error(
          "--drain-timeout-ms must exceed --publish-timeout-ms, or a message "
          "waiting for Kafka at SIGTERM is cut off unanswered");
    }
    server_options.stream_route = [&api](const chat::RequestHeader& header) {
      return api.stream_route(header);
    };
    server_options.service = kService;
    server_options.log = log;
    chat::serve_until_signal(
        "api", server_options, registry, health, chat::ApiService::routes(),
        [&api](chat::Request&& req, chat::Respond respond) {
          api.handle(std::move(req), std::move(respond));
        },
        signals,
        [&](std::uint16_t port) {
          if (!api_options.public_url.empty()) return;
          std::string host = flags.str("bind");
          if (host == "0.0.0.0" || host == "::") {
            vigil::LogLine(log, "warn", kService, "public_url_guessed")
                .field("detail",
                       "bound to every address: set --public-url for "
                       "download links other hosts can follow")
                .emit();
            host = "127.0.0.1";
          } else if (host.find(':') != std::string::npos) {
            host = "[" + host + "]";
          }
          api.set_public_url("http://" + host + ":" + std::to_string(port));
        },
        metrics_auth);
    // Outstanding writes report back now, while the API that answers them
    // still exists.
    publisher.close();
    return 0;
  });
}
