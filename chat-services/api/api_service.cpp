#include "api_service.hpp"

#include <openssl/rand.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "events.hpp"
#include "password.hpp"
#include "validation.hpp"

namespace chat {
namespace {

namespace bhttp = boost::beast::http;
using nlohmann::json;

constexpr const char* kService = "chat-api";

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

/// The value of `key` in the query string, if present.
std::optional<std::string_view> query_param(std::string_view target,
                                            std::string_view key) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string_view()
                                          : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return std::nullopt;
}

/// Parses a decimal integer in [min, max].
std::optional<long> parse_bounded(std::string_view text, long min, long max) {
  long value = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return std::nullopt;
  }
  return value;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

/// The JSON object in the request body, or nullopt after answering 400.
std::optional<json> json_body(const Request& req, const Respond& respond) {
  json body = json::parse(req.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    respond(problem(400, "Bad Request", "the body must be a JSON object"));
    return std::nullopt;
  }
  return body;
}

/// A string member, or nullopt (absent or not a string).
std::optional<std::string> string_member(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

json message_json(const MessageRecord& m) {
  json out = {
      {"message_id", m.message_id},  {"conversation_id", m.conversation_id},
      {"sender_id", m.sender_id},    {"content", m.content},
      {"timestamp", m.timestamp_ms}, {"status", to_string(m.status)}};
  if (!m.recipient_id.empty()) out["recipient_id"] = m.recipient_id;
  if (!m.file_id.empty()) out["file_id"] = m.file_id;
  if (m.delivered_at_ms != 0) out["delivered_at"] = m.delivered_at_ms;
  if (m.read_at_ms != 0) out["read_at"] = m.read_at_ms;
  return out;
}

}  // namespace

Response problem(unsigned status, std::string_view title,
                 std::string_view detail) {
  const json body = {{"type", "about:blank"},
                     {"title", title},
                     {"status", status},
                     {"detail", detail}};
  Response res = json_response(status, body.dump());
  res.set(bhttp::field::content_type, "application/problem+json");
  return res;
}

Response method_not_allowed(std::string_view allow) {
  Response res = problem(405, "Method Not Allowed",
                         "use " + std::string(allow) + " on this path");
  res.set(bhttp::field::allow, std::string(allow));
  return res;
}

std::string rfc3339(std::int64_t ms) {
  std::string out;
  vigil::detail::append_rfc3339(out, std::chrono::system_clock::time_point(
                                         std::chrono::milliseconds(ms)));
  return out;
}

std::string random_id(std::string_view prefix) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    throw std::runtime_error("no randomness for an id");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(prefix);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

ApiService::ApiService(Store& store, const JwtSigner& jwt, Publisher& publisher,
                       vigil::Registry& metrics, vigil::LogSink log,
                       ApiOptions options, Clock clock)
    : store_(store),
      jwt_(jwt),
      publisher_(publisher),
      log_(std::move(log)),
      options_(options),
      clock_(clock ? std::move(clock) : Clock(system_now_ms)),
      auth_pool_(options.auth_threads),
      accepted_(metrics
                    .counter("chat_messages_accepted_total",
                             "Messages acknowledged by Kafka and answered 202.")
                    .with({})),
      publish_duration_(metrics
                            .histogram("chat_kafka_publish_duration_seconds",
                                       "From publishing a message to Kafka's "
                                       "acknowledgement.",
                                       {}, vigil::buckets::latency_seconds(),
                                       {"seconds", 0})
                            .with({})),
      url_signer_(jwt.derive_key("chat4all download URL v1")),
      files_uploaded_(metrics
                          .counter("chat_files_uploaded_total",
                                   "Files stored through POST /v1/files.")
                          .with({})),
      file_bytes_uploaded_(
          metrics
              .counter("chat_files_uploaded_bytes_total",
                       "Bytes of the files stored through POST /v1/files.", {},
                       {"bytes", 0})
              .with({})),
      upload_duration_(
          metrics
              .histogram("chat_file_upload_duration_seconds",
                         "From an upload's request header to its answer.", {},
                         vigil::exponential_buckets(0.005, 4, 9),
                         {"seconds", 0})
              .with({})) {}

ApiService::~ApiService() { auth_pool_.join(); }

std::vector<std::string> ApiService::routes() {
  return {"/auth/register",
          "/auth/token",
          "/v1/messages",
          "/v1/conversations/{id}/messages",
          "/v1/messages/{id}/read",
          "/v1/files",
          "/v1/files/{id}/download",
          "/v1/files/{id}/content"};
}

void ApiService::handle(Request&& req, Respond respond) {
  const auto target = req.target();
  const std::string path(
      path_of(std::string_view(target.data(), target.size())));
  const auto parts = segments(path);
  const auto method = req.method();
  if (path == "/auth/register" || path == "/auth/token") {
    if (method != bhttp::verb::post) return respond(method_not_allowed("POST"));
    // Password hashing is slow on purpose: keep it off the HTTP threads.
    auto shared = std::make_shared<Request>(std::move(req));
    const bool is_register = path == "/auth/register";
    boost::asio::post(auth_pool_, [this, shared, respond, is_register] {
      if (is_register) {
        register_user(*shared, respond);
      } else {
        issue_token(*shared, respond);
      }
    });
    return;
  }
  if (parts.empty() || parts[0] != "v1") {
    return respond(problem(404, "Not Found", "no such resource"));
  }
  if (parts.size() >= 2 && parts[1] == "files") {
    return route_files(std::move(req), parts, std::move(respond));
  }
  const bool send = parts.size() == 2 && parts[1] == "messages";
  const bool list = parts.size() == 4 && parts[1] == "conversations" &&
                    parts[3] == "messages" && !parts[2].empty();
  const bool read = parts.size() == 4 && parts[1] == "messages" &&
                    parts[3] == "read" && !parts[2].empty();
  if (!send && !list && !read) {
    return respond(problem(404, "Not Found", "no such resource"));
  }
  if ((send || read) && method != bhttp::verb::post) {
    return respond(method_not_allowed("POST"));
  }
  if (list && method != bhttp::verb::get && method != bhttp::verb::head) {
    return respond(method_not_allowed("GET, HEAD"));
  }
  const std::string user = authenticate(req, respond);
  if (user.empty()) return;
  if (send) return send_message(req, user, std::move(respond));
  if (list)
    return history(req, std::string(parts[2]), user, std::move(respond));
  mark_read(std::string(parts[2]), user, std::move(respond));
}

std::string ApiService::authenticate(const Request& req,
                                     const Respond& respond) {
  Response refusal;
  std::string user = authenticate(req, refusal);
  if (user.empty()) respond(std::move(refusal));
  return user;
}

std::string ApiService::authenticate(const RequestHeader& req,
                                     Response& refusal) {
  const auto header = req[bhttp::field::authorization];
  std::string why = "missing bearer token";
  if (header.size() > 7 && header.substr(0, 7) == "Bearer ") {
    const auto token = header.substr(7);
    if (auto claims = jwt_.verify(std::string_view(token.data(), token.size()),
                                  clock_() / 1000, &why)) {
      return claims->subject;
    }
  }
  vigil::LogLine(log_, "warn", kService, "auth_failed")
      .field("reason", why)
      .emit();
  refusal = problem(401, "Unauthorized", "a valid bearer token is required");
  refusal.set(bhttp::field::www_authenticate, "Bearer");
  return {};
}

void ApiService::register_user(const Request& req, Respond respond) {
  const auto body = json_body(req, respond);
  if (!body) return;
  const auto username = string_member(*body, "username");
  const auto password = string_member(*body, "password");
  if (!username || !valid_username(*username)) {
    return respond(problem(400, "Bad Request",
                           "username must be 3-32 characters of "
                           "[A-Za-z0-9_.-]"));
  }
  if (!password || password->size() < 6 || password->size() > 128) {
    return respond(
        problem(400, "Bad Request", "password must be 6-128 characters"));
  }
  UserRecord user{random_id("u_"), *username,
                  hash_password(*password, options_.password_iterations),
                  clock_()};
  if (!store_.add_user(user)) {
    return respond(problem(409, "Conflict", "username is taken"));
  }
  vigil::LogLine(log_, "info", kService, "user_registered")
      .field("user_id", user.id)
      .emit();
  respond(json_response(201, json{{"user_id", user.id},
                                  {"username", user.username},
                                  {"created_at", rfc3339(user.created_at_ms)}}
                                 .dump()));
}

void ApiService::issue_token(const Request& req, Respond respond) {
  const auto body = json_body(req, respond);
  if (!body) return;
  const auto username = string_member(*body, "username");
  const auto password = string_member(*body, "password");
  const auto user =
      username ? store_.user_by_name(*username) : std::optional<UserRecord>();
  if (!user || !password || !verify_password(*password, user->password_hash)) {
    return respond(
        problem(401, "Unauthorized", "unknown username or wrong password"));
  }
  respond(json_response(
      200, json{{"access_token", jwt_.issue(user->id, clock_() / 1000)},
                {"token_type", "Bearer"},
                {"expires_in", jwt_.ttl_seconds()}}
               .dump()));
}

void ApiService::send_message(const Request& req, const std::string& user,
                              Respond respond) {
  const auto body = json_body(req, respond);
  if (!body) return;
  MessageEvent event;
  const auto conversation = string_member(*body, "conversation_id");
  const auto sender = string_member(*body, "sender_id");
  const auto content = string_member(*body, "content");
  if (!conversation || !valid_conversation_id(*conversation)) {
    return respond(problem(400, "Bad Request",
                           "conversation_id must be 1-128 characters of "
                           "[A-Za-z0-9_.:-]"));
  }
  if (!sender)
    return respond(problem(400, "Bad Request", "sender_id is required"));
  if (*sender != user) {
    return respond(
        problem(403, "Forbidden", "sender_id must be the authenticated user"));
  }
  if (!content || content->empty()) {
    return respond(problem(400, "Bad Request", "content is required"));
  }
  if (content->size() > kMaxContentBytes) {
    return respond(
        problem(413, "Payload Too Large", "content is limited to 10 KiB"));
  }
  if (!valid_utf8(*content)) {
    return respond(problem(400, "Bad Request", "content must be valid UTF-8"));
  }
  if (body->contains("recipient_id")) {
    const auto recipient = string_member(*body, "recipient_id");
    Channel channel;
    if (!recipient || !parse_recipient(*recipient, channel)) {
      return respond(problem(400, "Bad Request",
                             "recipient_id must be whatsapp:+<digits>, "
                             "instagram:@<name> or a user id"));
    }
    event.recipient_id = *recipient;
  }
  if (body->contains("file_id")) {
    // The file must be in this conversation: a message cannot pass on a
    // file from a conversation its readers have no access to.
    const auto file_id = string_member(*body, "file_id");
    const auto file = file_id ? store_.file(*file_id) : std::nullopt;
    if (!file || file->conversation_id != *conversation) {
      return respond(problem(400, "Bad Request",
                             "unknown file_id (upload it to this "
                             "conversation first)"));
    }
    event.file_id = *file_id;
  }
  if (!publisher_.available()) {
    Response res = problem(503, "Service Unavailable",
                           "the message broker is unreachable; retry later");
    res.set(bhttp::field::retry_after, "5");
    return respond(std::move(res));
  }
  event.message_id = random_id("m_");
  event.conversation_id = *conversation;
  event.sender_id = *sender;
  event.content = *content;
  event.timestamp_ms = clock_();
  const auto started = std::chrono::steady_clock::now();
  publisher_.publish(
      "messages", event.conversation_id, to_json(event),
      [this, respond, started, id = event.message_id,
       conversation = event.conversation_id,
       timestamp = event.timestamp_ms](bool acknowledged) {
        publish_duration_.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                          started)
                .count());
        if (!acknowledged) {
          vigil::LogLine(log_, "error", kService, "publish_failed")
              .field("message_id", id)
              .emit();
          Response res = problem(503, "Service Unavailable",
                                 "the message could not be stored; retry");
          res.set(bhttp::field::retry_after, "5");
          return respond(std::move(res));
        }
        accepted_.inc();
        respond(json_response(202, json{{"message_id", id},
                                        {"conversation_id", conversation},
                                        {"status", "SENT"},
                                        {"timestamp", timestamp}}
                                       .dump()));
      });
}

void ApiService::history(const Request& req, const std::string& conversation,
                         const std::string& user, Respond respond) {
  const auto target = req.target();
  const std::string_view view(target.data(), target.size());
  const auto limit_text = query_param(view, "limit");
  const auto offset_text = query_param(view, "offset");
  const auto limit =
      limit_text ? parse_bounded(*limit_text, 1, 100) : std::optional<long>(50);
  const auto offset = offset_text ? parse_bounded(*offset_text, 0, 1L << 40)
                                  : std::optional<long>(0);
  if (!limit || !offset) {
    return respond(problem(400, "Bad Request",
                           "limit must be 1-100 and offset a non-negative "
                           "integer"));
  }
  // Strangers get the same 404 as a conversation that does not exist.
  if (!valid_conversation_id(conversation) ||
      !store_.is_participant(conversation, user)) {
    return respond(problem(404, "Not Found", "no such conversation"));
  }
  const auto page =
      store_.history(conversation, static_cast<std::size_t>(*limit),
                     static_cast<std::size_t>(*offset));
  json messages = json::array();
  for (const auto& m : page.messages) {
    json message = message_json(m);
    if (!m.file_id.empty()) {
      if (const auto file = store_.file(m.file_id)) {
        message["file"] = file_json(*file);
      }
    }
    messages.push_back(std::move(message));
  }
  respond(json_response(200, json{{"conversation_id", conversation},
                                  {"messages", messages},
                                  {"pagination",
                                   {{"limit", *limit},
                                    {"offset", *offset},
                                    {"returned", page.messages.size()},
                                    {"has_more", page.has_more}}}}
                                 .dump()));
}

bool ApiService::may_mark_read(const MessageRecord& message,
                               const std::string& user) {
  if (message.recipient_id == user) return true;
  // A platform recipient has no account here: the platform's read receipt
  // comes back through a participant of the conversation.
  Channel channel = Channel::kLocal;
  parse_recipient(message.recipient_id, channel);
  return channel != Channel::kLocal &&
         store_.is_participant(message.conversation_id, user);
}

void ApiService::mark_read(const std::string& message_id,
                           const std::string& user, Respond respond) {
  const auto message = store_.message(message_id);
  if (!message || !may_mark_read(*message, user)) {
    return respond(problem(404, "Not Found", "no such message"));
  }
  const auto change =
      store_.set_status(message_id, MessageStatus::kRead, clock_());
  if (change.outcome == Transition::kInvalid) {
    return respond(problem(409, "Conflict",
                           "the message cannot be read in status " +
                               std::string(to_string(change.message->status))));
  }
  respond(json_response(200, json{{"message_id", message_id},
                                  {"status", "READ"},
                                  {"read_at", change.message->read_at_ms}}
                                 .dump()));
}

void ApiService::create_demo_users() {
  for (const auto& [name, password] :
       {std::pair<const char*, const char*>{"user_a", "pass_a"},
        {"user_b", "pass_b"}}) {
    if (store_.user_by_name(name)) continue;
    store_.add_user({random_id("u_"), name,
                     hash_password(password, options_.password_iterations),
                     clock_()});
  }
}

}  // namespace chat
