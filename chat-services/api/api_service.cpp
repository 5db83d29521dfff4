#include "api_service.hpp"

#include <openssl/rand.h>

#include <algorithm>
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
  json out = {{"message_id", m.message_id},
              {"conversation_id", m.conversation_id},
              {"sender_id", m.sender_id},
              {"content", m.content},
              {"content_type", m.content_type},
              {"timestamp", m.timestamp_ms},
              {"status", to_string(m.status)}};
  if (!m.recipient_id.empty()) out["recipient_id"] = m.recipient_id;
  if (!m.file_id.empty()) out["file_id"] = m.file_id;
  if (m.delivered_at_ms != 0) out["delivered_at"] = m.delivered_at_ms;
  if (m.read_at_ms != 0) out["read_at"] = m.read_at_ms;
  return out;
}

json conversation_json(const ConversationRecord& c) {
  json participants = json::array();
  json admins = json::array();
  for (const auto& m : c.members) {
    participants.push_back(m.user_id);
    if (m.role == MemberRole::kAdmin) admins.push_back(m.user_id);
  }
  json out = {{"conversation_id", c.id},
              {"type", to_string(c.type)},
              {"participants", std::move(participants)},
              {"admins", std::move(admins)},
              {"created_by", c.created_by},
              {"created_at", rfc3339(c.created_at_ms)}};
  if (!c.name.empty()) out["name"] = c.name;
  return out;
}

/// The 202 of POST /v1/messages, also for a retry of a stored message.
Response accepted_json(const MessageRecord& m) {
  return json_response(202, json{{"message_id", m.message_id},
                                 {"conversation_id", m.conversation_id},
                                 {"status", "SENT"},
                                 {"timestamp", m.timestamp_ms}}
                                .dump());
}

bool valid_idempotency_key(std::string_view key) {
  return !key.empty() && key.size() <= 255 &&
         std::all_of(key.begin(), key.end(), [](char c) {
           return c > 0x20 && c < 0x7f;
         });
}

bool has_member(const ConversationRecord& c, std::string_view user) {
  return std::any_of(c.members.begin(), c.members.end(),
                     [&](const Member& m) { return m.user_id == user; });
}

/// limit (1-100, default 50) and offset from the query, or nullopt after
/// answering 400.
std::optional<std::pair<long, long>> page_params(const Request& req,
                                                 const Respond& respond) {
  const auto target = req.target();
  const std::string_view view(target.data(), target.size());
  const auto limit_text = query_param(view, "limit");
  const auto offset_text = query_param(view, "offset");
  const auto limit =
      limit_text ? parse_bounded(*limit_text, 1, 100) : std::optional<long>(50);
  const auto offset = offset_text ? parse_bounded(*offset_text, 0, 1L << 40)
                                  : std::optional<long>(0);
  if (!limit || !offset) {
    respond(problem(400, "Bad Request",
                    "limit must be 1-100 and offset a non-negative integer"));
    return std::nullopt;
  }
  return std::make_pair(*limit, *offset);
}

json pagination_json(long limit, long offset, std::size_t returned,
                     bool has_more) {
  return {{"limit", limit},
          {"offset", offset},
          {"returned", returned},
          {"has_more", has_more}};
}

}  // namespace

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
      unknown_user_hash_(
          hash_password(random_id(""), options.password_iterations)),
      user_limiter_(options.user_auth_limit),
      address_limiter_(options.address_auth_limit),
      auth_refused_(metrics.counter(
          "chat_auth_refused_total",
          "Login and register requests refused before hashing, by reason: "
          "rate limits per username and per client address, and the "
          "hashing queue's length and waiting time.",
          {"reason"})),
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
      idempotency_key_(jwt.derive_key("chat4all idempotency key v1")),
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
          "/v1/conversations",
          "/v1/conversations/{id}",
          "/v1/conversations/{id}/messages",
          "/v1/conversations/{id}/members",
          "/v1/conversations/{id}/members/{user_id}",
          "/v1/messages/{id}/read",
          "/v1/files",
          "/v1/files/{id}/download",
          "/v1/files/{id}/content"};
}

Response ApiService::failure(const std::exception& e) {
  const bool unavailable = dynamic_cast<const StoreUnavailable*>(&e);
  vigil::LogLine(log_, "error", kService,
                 unavailable ? "store_unavailable" : "request_failed")
      .field("error", e.what())
      .emit();
  if (!unavailable) {
    return problem(500, "Internal Server Error", "the request failed");
  }
  Response res = problem(503, "Service Unavailable",
                         "the store cannot answer now; retry later");
  res.set(bhttp::field::retry_after, "2");
  return res;
}

void ApiService::handle(Request&& req, Respond respond) {
  // A store that cannot answer (busy, disk full, I/O error) is a 503 for
  // this request, never the end of the process.
  try {
    dispatch(std::move(req), respond);
  } catch (const std::exception& e) {
    respond(failure(e));
  }
}

void ApiService::dispatch(Request&& req, const Respond& respond) {
  const auto target = req.target();
  const std::string path(
      path_of(std::string_view(target.data(), target.size())));
  const auto parts = segments(path);
  const auto method = req.method();
  if (path == "/auth/register" || path == "/auth/token") {
    if (method != bhttp::verb::post) return respond(method_not_allowed("POST"));
    return authenticate_later(req, path == "/auth/register", respond);
  }
  if (parts.empty() || parts[0] != "v1") {
    return respond(problem(404, "Not Found", "no such resource"));
  }
  if (parts.size() >= 2 && parts[1] == "files") {
    return route_files(std::move(req), parts, respond);
  }
  const bool send = parts.size() == 2 && parts[1] == "messages";
  const bool read = parts.size() == 4 && parts[1] == "messages" &&
                    parts[3] == "read" && !parts[2].empty();
  const bool conversations = parts.size() == 2 && parts[1] == "conversations";
  const bool conversation = parts.size() >= 3 &&
                            parts[1] == "conversations" && !parts[2].empty();
  const bool list = conversation && parts.size() == 4 && parts[3] == "messages";
  const bool members =
      conversation && ((parts.size() == 4 && parts[3] == "members") ||
                       (parts.size() == 5 && parts[3] == "members" &&
                        !parts[4].empty()));
  if (!send && !read && !conversations && !(conversation && parts.size() == 3) &&
      !list && !members) {
    return respond(problem(404, "Not Found", "no such resource"));
  }
  if ((send || read) && method != bhttp::verb::post) {
    return respond(method_not_allowed("POST"));
  }
  if (conversations && method != bhttp::verb::post &&
      method != bhttp::verb::get && method != bhttp::verb::head) {
    return respond(method_not_allowed("GET, HEAD, POST"));
  }
  if (list && method != bhttp::verb::get && method != bhttp::verb::head) {
    return respond(method_not_allowed("GET, HEAD"));
  }
  const std::string user = authenticate(req, respond);
  if (user.empty()) return;
  if (send) return send_message(req, user, respond);
  if (read) return mark_read(std::string(parts[2]), user, respond);
  if (conversations) {
    if (method == bhttp::verb::post) {
      return create_conversation(req, user, respond);
    }
    return list_conversations(req, user, respond);
  }
  if (list) return history(req, std::string(parts[2]), user, respond);
  route_conversation(req, parts, user, respond);
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

void ApiService::authenticate_later(const Request& req, bool is_register,
                                    const Respond& respond) {
  auto body = json_body(req, respond);
  if (!body) return;
  // Limits first, before any hashing: per client address, then per
  // username (register's "taken" answer included, so names cannot be
  // probed quickly either).
  std::chrono::seconds wait{0};
  const auto username = string_member(*body, "username");
  if (!address_limiter_.take(peer_address(req), wait)) {
    return respond(refuse_auth("address", 429, wait));
  }
  if (username && !user_limiter_.take(username->substr(0, 64), wait)) {
    return respond(refuse_auth("username", 429, wait));
  }
  // Password hashing is slow on purpose: it runs off the HTTP threads, and
  // its queue is bounded in length and in waiting time, so that a flood of
  // logins cannot make a real one wait for tens of seconds.
  if (auth_queued_.fetch_add(1) >= options_.max_auth_queue) {
    --auth_queued_;
    return respond(refuse_auth("queue_full", 503, std::chrono::seconds(1)));
  }
  const auto queued_at = std::chrono::steady_clock::now();
  boost::asio::post(auth_pool_, [this, body = std::move(*body), respond,
                                 is_register, queued_at] {
    --auth_queued_;
    if (std::chrono::steady_clock::now() - queued_at >
        options_.auth_queue_deadline) {
      return respond(
          refuse_auth("queue_deadline", 503, std::chrono::seconds(1)));
    }
    // Nothing may escape a pool task: it would end the process.
    try {
      if (is_register) {
        register_user(body, respond);
      } else {
        issue_token(body, respond);
      }
    } catch (const std::exception& e) {
      respond(failure(e));
    }
  });
}

Response ApiService::refuse_auth(const char* reason, unsigned status,
                                 std::chrono::seconds retry_after) {
  auth_refused_.with({reason}).inc();
  Response res =
      status == 429
          ? problem(429, "Too Many Requests",
                    std::string("too many attempts for this ") + reason +
                        "; retry later")
          : problem(503, "Service Unavailable",
                    "too many logins are waiting; retry later");
  res.set(bhttp::field::retry_after, std::to_string(retry_after.count()));
  return res;
}

void ApiService::register_user(const json& body, const Respond& respond) {
  const auto username = string_member(body, "username");
  const auto password = string_member(body, "password");
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

void ApiService::issue_token(const json& body, const Respond& respond) {
  const auto username = string_member(body, "username");
  const auto password = string_member(body, "password");
  const auto user =
      username ? store_.user_by_name(*username) : std::optional<UserRecord>();
  // An unknown username costs the same hashing as a wrong password: the
  // answer's timing must not tell which names exist.
  const bool matches = verify_password(
      password.value_or(""), user ? user->password_hash : unknown_user_hash_);
  if (!user || !password || !matches) {
    Response res =
        problem(401, "Unauthorized", "unknown username or wrong password");
    res.set(bhttp::field::www_authenticate, "Bearer");  // RFC 9110 §15.5.2
    return respond(std::move(res));
  }
  respond(json_response(
      200, json{{"access_token", jwt_.issue(user->id, clock_() / 1000)},
                {"token_type", "Bearer"},
                {"expires_in", jwt_.ttl_seconds()}}
               .dump()));
}

std::optional<UserRecord> ApiService::resolve_user(std::string_view name) {
  Channel channel = Channel::kLocal;
  if (!parse_recipient(name, channel) || channel != Channel::kLocal) {
    return std::nullopt;
  }
  if (auto user = store_.user_by_id(name)) return user;
  return store_.user_by_name(name);
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
                           "[A-Za-z0-9_.:+-]"));
  }
  if (!sender)
    return respond(problem(400, "Bad Request", "sender_id is required"));
  if (!content || content->empty()) {
    return respond(problem(400, "Bad Request", "content is required"));
  }
  if (content->size() > kMaxContentBytes) {
    return respond(
        problem(413, "Content Too Large", "content is limited to 10 KiB"));
  }
  if (!valid_utf8(*content)) {
    return respond(problem(400, "Bad Request", "content must be valid UTF-8"));
  }
  if (body->contains("content_type")) {
    const auto type = string_member(*body, "content_type");
    if (!type || !valid_media_type(*type)) {
      return respond(problem(400, "Bad Request",
                             "content_type must be a media type such as "
                             "text/plain"));
    }
    event.content_type = *type;
  }
  // The original clients call the recipient receiver_id.
  const bool has_recipient = body->contains("recipient_id");
  const bool has_receiver = body->contains("receiver_id");
  if (has_recipient && has_receiver &&
      (*body)["recipient_id"] != (*body)["receiver_id"]) {
    return respond(problem(400, "Bad Request",
                           "recipient_id and receiver_id name different "
                           "recipients"));
  }
  std::string local_recipient;  // a member's user id
  if (has_recipient || has_receiver) {
    const auto recipient =
        string_member(*body, has_recipient ? "recipient_id" : "receiver_id");
    Channel channel;
    if (!recipient || !parse_recipient(*recipient, channel)) {
      return respond(problem(400, "Bad Request",
                             "recipient_id must be whatsapp:+<digits>, "
                             "instagram:@<name> or a user's id or name"));
    }
    event.recipient_id = *recipient;
    if (channel == Channel::kLocal) {
      const auto known = resolve_user(*recipient);
      if (!known) {
        return respond(problem(400, "Bad Request", "unknown recipient"));
      }
      event.recipient_id = local_recipient = known->id;
    }
  }
  // The original clients send the username; either names the caller.
  if (*sender != user) {
    const auto me = store_.user_by_id(user);
    if (!me || me->username != *sender) {
      return respond(problem(403, "Forbidden",
                             "sender_id must be the authenticated user"));
    }
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
  // A client that may retry (after a 503 or a timeout) names the message:
  // the same key from the same user always gives the same message_id, so
  // the store (idempotent by message_id) never keeps a second copy, and a
  // retry of a message already stored gets the first answer back.
  const auto key_header = req["Idempotency-Key"];
  std::string key(key_header.data(), key_header.size());
  if (body->contains("message_id")) {
    const auto given = string_member(*body, "message_id");
    if (!given || (!key.empty() && *given != key)) {
      return respond(problem(400, "Bad Request",
                             "message_id must be a string, the same as the "
                             "Idempotency-Key header if both are sent"));
    }
    key = *given;
  }
  if (!key.empty() && !valid_idempotency_key(key)) {
    return respond(problem(400, "Bad Request",
                           "Idempotency-Key must be 1-255 printable ASCII "
                           "characters"));
  }
  if (!publisher_.available()) {
    Response res = problem(503, "Service Unavailable",
                           "the message broker is unreachable; retry later");
    res.set(bhttp::field::retry_after, "5");
    return respond(std::move(res));
  }
  if (auto refusal = admit_sender(*conversation, user, local_recipient)) {
    return respond(std::move(*refusal));
  }
  event.message_id = key.empty() ? random_id("m_") : idempotent_id(user, key);
  if (!key.empty()) {
    if (const auto stored = store_.message(event.message_id)) {
      if (stored->conversation_id != *conversation ||
          stored->content != *content) {
        return respond(problem(422, "Unprocessable Content",
                               "this Idempotency-Key was used for another "
                               "message"));
      }
      return respond(accepted_json(*stored));
    }
  }
  event.conversation_id = *conversation;
  event.sender_id = user;
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
        MessageRecord sent;
        sent.message_id = id;
        sent.conversation_id = conversation;
        sent.timestamp_ms = timestamp;
        respond(accepted_json(sent));
      });
}

std::optional<Response> ApiService::admit_sender(
    const std::string& conversation, const std::string& user,
    const std::string& local_recipient) {
  if (!store_.member_role(conversation, user)) {
    // As the original clients expect, the first message to a conversation
    // id nobody uses creates it: private, of the sender and the local
    // recipient (a platform recipient is no member). Once it exists, only
    // its members may post.
    const std::int64_t now = clock_();
    ConversationRecord fresh{
        conversation, ConversationType::kPrivate, {}, user, now,
        {{user, MemberRole::kAdmin, now}}};
    if (!local_recipient.empty() && local_recipient != user) {
      fresh.members.push_back({local_recipient, MemberRole::kMember, now});
    }
    const auto created = store_.create_conversation(fresh, {});
    if (!has_member(created.conversation, user)) {
      return problem(403, "Forbidden",
                     "only members may post to this conversation");
    }
    if (created.created) {
      vigil::LogLine(log_, "info", kService, "conversation_created")
          .field("conversation_id", conversation)
          .field("user_id", user)
          .field("implicit", true)
          .emit();
    }
    if (local_recipient.empty() ||
        has_member(created.conversation, local_recipient)) {
      return std::nullopt;
    }
  } else if (local_recipient.empty() ||
             store_.member_role(conversation, local_recipient)) {
    return std::nullopt;
  }
  return problem(400, "Bad Request",
                 "recipient_id is not a member of this conversation");
}

void ApiService::create_conversation(const Request& req,
                                     const std::string& user,
                                     Respond respond) {
  const auto body = json_body(req, respond);
  if (!body) return;
  const auto type = string_member(*body, "type");
  if (!type || (*type != "private" && *type != "group")) {
    return respond(
        problem(400, "Bad Request", "type must be \"private\" or \"group\""));
  }
  const bool group = *type == "group";
  const auto ids = body->find("participant_ids");
  if (ids == body->end() || !ids->is_array() ||
      ids->size() > options_.max_group_members) {
    return respond(problem(
        400, "Bad Request",
        "participant_ids must be an array of at most " +
            std::to_string(options_.max_group_members) + " user ids"));
  }
  std::string name;
  if (body->contains("name")) {
    const auto given = string_member(*body, "name");
    if (!given || given->size() > 128 || !valid_utf8(*given)) {
      return respond(problem(400, "Bad Request",
                             "name must be a UTF-8 string of at most 128 "
                             "bytes"));
    }
    name = *given;
  }
  const std::int64_t now = clock_();
  ConversationRecord c{random_id("conv_"),
                       group ? ConversationType::kGroup
                             : ConversationType::kPrivate,
                       name,
                       user,
                       now,
                       {{user, MemberRole::kAdmin, now}}};
  for (const auto& id : *ids) {
    const auto known =
        id.is_string() ? resolve_user(id.get<std::string>()) : std::nullopt;
    if (!known) {
      return respond(problem(400, "Bad Request",
                             "participant_ids names an unknown user"));
    }
    if (!has_member(c, known->id)) {
      c.members.push_back({known->id, MemberRole::kMember, now});
    }
  }
  if (!group && c.members.size() != 2) {
    return respond(problem(400, "Bad Request",
                           "a private conversation is between you and one "
                           "other user"));
  }
  if (c.members.size() > options_.max_group_members) {
    return respond(problem(400, "Bad Request",
                           "a group has at most " +
                               std::to_string(options_.max_group_members) +
                               " members"));
  }
  // One private conversation per pair: asking again returns it.
  std::string pair_key;
  if (!group) {
    pair_key = std::min(c.members[0].user_id, c.members[1].user_id) + " " +
               std::max(c.members[0].user_id, c.members[1].user_id);
  }
  const auto result = store_.create_conversation(c, pair_key);
  if (result.created) {
    vigil::LogLine(log_, "info", kService, "conversation_created")
        .field("conversation_id", result.conversation.id)
        .field("user_id", user)
        .field("type", *type)
        .field("members", result.conversation.members.size())
        .emit();
  }
  Response res = json_response(result.created ? 201 : 200,
                               conversation_json(result.conversation).dump());
  res.set(bhttp::field::location,
          "/v1/conversations/" + result.conversation.id);
  respond(std::move(res));
}

void ApiService::list_conversations(const Request& req,
                                    const std::string& user, Respond respond) {
  const auto page_of = page_params(req, respond);
  if (!page_of) return;
  const auto [limit, offset] = *page_of;
  const auto page =
      store_.conversations_of(user, static_cast<std::size_t>(limit),
                              static_cast<std::size_t>(offset));
  json conversations = json::array();
  for (const auto& c : page.conversations) {
    conversations.push_back(conversation_json(c));
  }
  respond(json_response(
      200, json{{"conversations", std::move(conversations)},
                {"pagination", pagination_json(limit, offset,
                                               page.conversations.size(),
                                               page.has_more)}}
               .dump()));
}

void ApiService::route_conversation(const Request& req,
                                    const std::vector<std::string_view>& parts,
                                    const std::string& user, Respond respond) {
  const std::string id(parts[2]);
  const auto method = req.method();
  // Everybody but a member sees the same 404, whether it exists or not.
  const auto conversation =
      valid_conversation_id(id) ? store_.conversation(id) : std::nullopt;
  const auto self = conversation
                        ? std::find_if(conversation->members.begin(),
                                       conversation->members.end(),
                                       [&](const Member& m) {
                                         return m.user_id == user;
                                       })
                        : std::vector<Member>::const_iterator();
  if (!conversation || self == conversation->members.end()) {
    return respond(problem(404, "Not Found", "no such conversation"));
  }
  if (parts.size() == 3) {
    if (method != bhttp::verb::get && method != bhttp::verb::head) {
      return respond(method_not_allowed("GET, HEAD"));
    }
    return respond(
        json_response(200, conversation_json(*conversation).dump()));
  }
  const bool add = parts.size() == 4;
  if (add && method != bhttp::verb::post) {
    return respond(method_not_allowed("POST"));
  }
  if (!add && method != bhttp::verb::delete_) {
    return respond(method_not_allowed("DELETE"));
  }
  if (conversation->type == ConversationType::kPrivate) {
    return respond(problem(409, "Conflict",
                           "the members of a private conversation are fixed"));
  }
  const bool admin = self->role == MemberRole::kAdmin;
  if (add) {
    if (!admin) {
      return respond(problem(403, "Forbidden", "only admins may add members"));
    }
    const auto body = json_body(req, respond);
    if (!body) return;
    const auto name = string_member(*body, "user_id");
    const auto known = name ? resolve_user(*name) : std::nullopt;
    if (!known) {
      return respond(problem(400, "Bad Request", "user_id names no user"));
    }
    const auto change =
        store_.add_member(id, {known->id, MemberRole::kMember, clock_()},
                          options_.max_group_members);
    if (change == MemberChange::kFull) {
      return respond(problem(409, "Conflict",
                             "the group has the most members allowed (" +
                                 std::to_string(options_.max_group_members) +
                                 ")"));
    }
    if (change == MemberChange::kNoConversation) {
      return respond(problem(404, "Not Found", "no such conversation"));
    }
    vigil::LogLine(log_, "info", kService, "member_added")
        .field("conversation_id", id)
        .field("user_id", known->id)
        .field("by", user)
        .emit();
    return respond(json_response(change == MemberChange::kDone ? 201 : 200,
                                 conversation_json(*store_.conversation(id))
                                     .dump()));
  }
  // A member may leave; only an admin may remove somebody else.
  const auto target = resolve_user(parts[4]);
  const std::string target_id = target ? target->id : std::string(parts[4]);
  if (target_id != user && !admin) {
    return respond(
        problem(403, "Forbidden", "only admins may remove other members"));
  }
  if (store_.remove_member(id, target_id) != MemberChange::kDone) {
    return respond(problem(404, "Not Found", "no such member"));
  }
  vigil::LogLine(log_, "info", kService, "member_removed")
      .field("conversation_id", id)
      .field("user_id", target_id)
      .field("by", user)
      .emit();
  Response res{bhttp::status::no_content, 11};
  res.prepare_payload();
  respond(std::move(res));
}

void ApiService::history(const Request& req, const std::string& conversation,
                         const std::string& user, Respond respond) {
  const auto page_of = page_params(req, respond);
  if (!page_of) return;
  const auto [limit, offset] = *page_of;
  // Strangers get the same 404 as a conversation that does not exist.
  if (!valid_conversation_id(conversation) ||
      !store_.member_role(conversation, user)) {
    return respond(problem(404, "Not Found", "no such conversation"));
  }
  const auto page =
      store_.history(conversation, static_cast<std::size_t>(limit),
                     static_cast<std::size_t>(offset));
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
  respond(json_response(
      200, json{{"conversation_id", conversation},
                {"messages", messages},
                {"pagination", pagination_json(limit, offset,
                                               page.messages.size(),
                                               page.has_more)}}
               .dump()));
}

bool ApiService::may_mark_read(const MessageRecord& message,
                               const std::string& user) {
  if (!store_.member_role(message.conversation_id, user)) return false;
  // A platform recipient has no account here: the platform's read receipt
  // comes back through the message's sender.
  Channel channel = Channel::kLocal;
  parse_recipient(message.recipient_id, channel);
  return channel == Channel::kLocal ? message.recipient_id == user
                                    : message.sender_id == user;
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

std::string ApiService::idempotent_id(std::string_view user,
                                      std::string_view key) const {
  // Keyed by the user too: another user's identical key is another
  // message, and nobody can aim a key at someone else's message_id.
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string mac = hmac_sha256(
      idempotency_key_, std::string(user) + '\n' + std::string(key));
  std::string out = "m_";
  for (std::size_t i = 0; i < 16; ++i) {
    const auto b = static_cast<unsigned char>(mac[i]);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

void ApiService::set_public_url(std::string url) {
  std::lock_guard<std::mutex> lock(public_url_mutex_);
  options_.public_url = std::move(url);
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
