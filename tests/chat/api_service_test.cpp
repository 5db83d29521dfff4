// The API's rules in process: the real handler on a real SQLite store, with
// a broker stand-in that acknowledges every publish. Conversations and
// membership, the original clients' request forms, and what a client sees
// when the store cannot answer.
#include "api_service.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "blob_store.hpp"
#include "events.hpp"
#include "password.hpp"
#include "process.hpp"
#include "sqlite_lock.hpp"

namespace {

namespace bhttp = boost::beast::http;
using nlohmann::json;

class RecordingPublisher final : public chat::Publisher {
 public:
  void publish(const std::string&, const std::string&,
               const std::string& payload, Done done) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      payloads_.push_back(payload);
    }
    done(true);
  }
  bool available() const override { return true; }
  std::string last() {
    std::lock_guard<std::mutex> lock(mutex_);
    return payloads_.empty() ? std::string() : payloads_.back();
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return payloads_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> payloads_;
};

struct Answer {
  unsigned status = 0;
  json body;
  std::string location;
  std::string retry_after;
};

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    chat::SqliteStoreOptions store_options;
    store_options.busy_timeout = std::chrono::milliseconds(100);
    store_ = chat::open_sqlite_store(db_path(), store_options);
    blobs_ = chat::open_local_blob_store(dir_.path() + "/blobs");
    chat::ApiOptions options = options_;
    options.blobs = blobs_.get();
    options.public_url = "https://chat.example";
    options.max_group_members = 3;
    api_ = std::make_unique<chat::ApiService>(*store_, jwt_, publisher_,
                                              registry_, vigil::LogSink{},
                                              options);
    alice_ = user("alice");
    bob_ = user("bob");
    carol_ = user("carol");
  }

  std::string db_path() const { return dir_.path() + "/chat.db"; }

  struct User {
    std::string id;
    std::string name;
    std::string token;
  };

  User user(const std::string& name) {
    const std::string id = "u_" + name;
    store_->add_user({id, name, "unused", 1});
    return {id, name, jwt_.issue(id, time(nullptr))};
  }

  Answer call(bhttp::verb method, const std::string& target,
              const std::string& body = {}, const User* as = nullptr,
              const std::string& content_type = "application/json",
              const std::string& peer = "127.0.0.1",
              const std::vector<std::pair<std::string, std::string>>& headers =
                  {}) {
    chat::Request req{method, target, 11};
    req.set(chat::kPeerAddressField, peer);
    for (const auto& [name, value] : headers) req.set(name, value);
    if (as) req.set(bhttp::field::authorization, "Bearer " + as->token);
    req.set(bhttp::field::host, "evil.example");
    if (!body.empty()) req.set(bhttp::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    auto answered = std::make_shared<std::promise<chat::Response>>();
    auto future = answered->get_future();
    api_->handle(std::move(req), [answered](chat::Response res) {
      answered->set_value(std::move(res));
    });
    // Login and register answer from the hashing threads.
    EXPECT_EQ(future.wait_for(std::chrono::seconds(20)),
              std::future_status::ready);
    const chat::Response res = future.get();
    Answer out;
    out.status = res.result_int();
    out.body = json::parse(res.body(), nullptr, false);
    out.location = std::string(res[bhttp::field::location]);
    out.retry_after = std::string(res[bhttp::field::retry_after]);
    return out;
  }

  Answer post(const std::string& target, const json& body, const User& as) {
    return call(bhttp::verb::post, target, body.dump(), &as);
  }
  Answer get(const std::string& target, const User& as) {
    return call(bhttp::verb::get, target, {}, &as);
  }

  Answer send(const User& from, const std::string& conversation,
              const std::string& recipient = {}) {
    json body = {{"conversation_id", conversation},
                 {"sender_id", from.id},
                 {"content", "hi"}};
    if (!recipient.empty()) body["recipient_id"] = recipient;
    return post("/v1/messages", body, from);
  }

  chat::ApiOptions options_ = [] {  // what a test changes before SetUp
    chat::ApiOptions o;
    o.password_iterations = 1000;
    return o;
  }();
  chat_test::TempDir dir_;
  std::unique_ptr<chat::Store> store_;
  std::unique_ptr<chat::BlobStore> blobs_;
  chat::JwtSigner jwt_{std::string(32, 'k')};
  RecordingPublisher publisher_;
  vigil::Registry registry_;
  std::unique_ptr<chat::ApiService> api_;
  User alice_, bob_, carol_;
};

TEST_F(Api, AStrangerWhoPostsOnceStillCannotReadTheConversation) {
  // The reported hole: a stranger's history read answered 404, then the
  // stranger posted once, got 202, and read everybody's messages.
  ASSERT_EQ(send(alice_, "c1", bob_.id).status, 202u);
  EXPECT_EQ(get("/v1/conversations/c1/messages", carol_).status, 404u);
  EXPECT_EQ(send(carol_, "c1").status, 403u);
  EXPECT_EQ(get("/v1/conversations/c1/messages", carol_).status, 404u);
  EXPECT_EQ(get("/v1/conversations/c1", carol_).status, 404u);
  // Its members read it.
  EXPECT_EQ(get("/v1/conversations/c1/messages", bob_).status, 200u);
  EXPECT_EQ(send(bob_, "c1", alice_.id).status, 202u);
}

TEST_F(Api, TheFirstMessageCreatesAPrivateConversationOfSenderAndRecipient) {
  ASSERT_EQ(send(alice_, "user_a-whatsapp:+5511999999999",
                 "whatsapp:+5511999999999")
                .status,
            202u);
  const auto c = get("/v1/conversations/user_a-whatsapp:+5511999999999", alice_);
  ASSERT_EQ(c.status, 200u);
  EXPECT_EQ(c.body["type"], "private");
  // A platform recipient is no member.
  EXPECT_EQ(c.body["participants"], json::array({alice_.id}));
  ASSERT_EQ(send(alice_, "with-bob", bob_.id).status, 202u);
  EXPECT_EQ(get("/v1/conversations/with-bob", bob_).body["participants"],
            json::array({alice_.id, bob_.id}));
  // A recipient outside an existing conversation is refused.
  EXPECT_EQ(send(alice_, "with-bob", carol_.id).status, 400u);
  EXPECT_EQ(send(alice_, "with-bob", "nobody-known").status, 400u);
}

TEST_F(Api, APrivateConversationPerPairIsCreatedOnce) {
  const json body = {{"type", "private"}, {"participant_ids", {bob_.id}}};
  const auto first = post("/v1/conversations", body, alice_);
  ASSERT_EQ(first.status, 201u) << first.body;
  EXPECT_EQ(first.body["type"], "private");
  EXPECT_EQ(first.body["admins"], json::array({alice_.id}));
  EXPECT_EQ(first.location,
            "/v1/conversations/" + first.body["conversation_id"].get<std::string>());
  // Bob asking for the same pair (by username, as the original clients
  // may) gets the same conversation.
  const auto again = post(
      "/v1/conversations",
      {{"type", "private"}, {"participant_ids", {"alice", bob_.id}}}, bob_);
  EXPECT_EQ(again.status, 200u);
  EXPECT_EQ(again.body["conversation_id"], first.body["conversation_id"]);
  for (const json& bad :
       {json{{"type", "private"}, {"participant_ids", json::array()}},
        json{{"type", "private"}, {"participant_ids", {bob_.id, carol_.id}}},
        json{{"type", "secret"}, {"participant_ids", {bob_.id}}},
        json{{"type", "group"}, {"participant_ids", "bob"}},
        json{{"type", "group"}, {"participant_ids", {"no-such-user"}}},
        json{{"type", "group"}, {"participant_ids", {42}}},
        json{{"type", "group"},
             {"participant_ids", {bob_.id}},
             {"name", std::string(129, 'n')}}}) {
    EXPECT_EQ(post("/v1/conversations", bad, alice_).status, 400u) << bad;
  }
  const auto not_utf8 = call(
      bhttp::verb::post, "/v1/conversations",
      R"({"type":"group","participant_ids":[],"name":")" "\xff\xfe" R"("})",
      &alice_);
  EXPECT_EQ(not_utf8.status, 400u);
}

TEST_F(Api, GroupAdminsManageMembersAndAnyMemberMayLeave) {
  const auto group = post("/v1/conversations",
                          {{"type", "group"},
                           {"name", "team"},
                           {"participant_ids", {bob_.id}}},
                          alice_);
  ASSERT_EQ(group.status, 201u);
  const std::string id = group.body["conversation_id"];
  const std::string members = "/v1/conversations/" + id + "/members";
  EXPECT_EQ(group.body["name"], "team");
  // Only admins add; strangers do not learn it exists.
  EXPECT_EQ(post(members, {{"user_id", carol_.id}}, bob_).status, 403u);
  EXPECT_EQ(post(members, {{"user_id", carol_.id}}, carol_).status, 404u);
  EXPECT_EQ(post(members, {{"user_id", "carol"}}, alice_).status, 201u);
  EXPECT_EQ(post(members, {{"user_id", carol_.id}}, alice_).status, 200u);
  const User dave = user("dave");
  EXPECT_EQ(post(members, {{"user_id", dave.id}}, alice_).status, 409u)
      << "the limit is 3 members in this test";
  EXPECT_EQ(get("/v1/conversations/" + id + "/messages", carol_).status, 200u);
  // A member may not remove another, but may leave.
  EXPECT_EQ(call(bhttp::verb::delete_, members + "/" + alice_.id, {}, &bob_)
                .status,
            403u);
  EXPECT_EQ(
      call(bhttp::verb::delete_, members + "/" + bob_.id, {}, &bob_).status,
      204u);
  EXPECT_EQ(get("/v1/conversations/" + id + "/messages", bob_).status, 404u);
  EXPECT_EQ(send(bob_, id).status, 403u);
  // The admin removes carol.
  EXPECT_EQ(
      call(bhttp::verb::delete_, members + "/" + carol_.id, {}, &alice_).status,
      204u);
  EXPECT_EQ(
      call(bhttp::verb::delete_, members + "/" + carol_.id, {}, &alice_).status,
      404u);
  EXPECT_EQ(get("/v1/conversations/" + id, alice_).body["participants"],
            json::array({alice_.id}));
}

TEST_F(Api, PrivateConversationsHaveFixedMembers) {
  ASSERT_EQ(send(alice_, "pair", bob_.id).status, 202u);
  EXPECT_EQ(post("/v1/conversations/pair/members", {{"user_id", carol_.id}},
                 alice_)
                .status,
            409u);
}

TEST_F(Api, TheCallersConversationsArePaged) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(send(alice_, "c" + std::to_string(i), bob_.id).status, 202u);
  }
  ASSERT_EQ(send(carol_, "carols").status, 202u);
  const auto first = get("/v1/conversations?limit=2", bob_);
  ASSERT_EQ(first.status, 200u);
  ASSERT_EQ(first.body["conversations"].size(), 2u);
  EXPECT_TRUE(first.body["pagination"]["has_more"].get<bool>());
  const auto rest = get("/v1/conversations?limit=2&offset=2", bob_);
  ASSERT_EQ(rest.body["conversations"].size(), 1u);
  EXPECT_EQ(rest.body["conversations"][0]["conversation_id"], "c2");
  EXPECT_EQ(get("/v1/conversations?limit=0", bob_).status, 400u);
}

TEST_F(Api, TheOriginalClientsRequestFormsAreAccepted) {
  // sender_id as the username, receiver_id for the recipient, content_type.
  const auto sent = post("/v1/messages",
                         {{"conversation_id", "orig"},
                          {"sender_id", "alice"},
                          {"receiver_id", "bob"},
                          {"content", "**hi**"},
                          {"content_type", "text/markdown"}},
                         alice_);
  ASSERT_EQ(sent.status, 202u) << sent.body;
  std::string why;
  const auto event = chat::parse_message_event(publisher_.last(), why);
  ASSERT_TRUE(event) << why;
  EXPECT_EQ(event->sender_id, alice_.id);
  EXPECT_EQ(event->recipient_id, bob_.id);
  EXPECT_EQ(event->content_type, "text/markdown");
  // Somebody else's name or id is not the caller's.
  for (const std::string& other : {std::string("bob"), bob_.id}) {
    EXPECT_EQ(post("/v1/messages",
                   {{"conversation_id", "orig"},
                    {"sender_id", other},
                    {"content", "x"}},
                   alice_)
                  .status,
              403u);
  }
  EXPECT_EQ(post("/v1/messages",
                 {{"conversation_id", "orig"},
                  {"sender_id", "alice"},
                  {"recipient_id", "bob"},
                  {"receiver_id", "carol"},
                  {"content", "x"}},
                 alice_)
                .status,
            400u);
  EXPECT_EQ(post("/v1/messages",
                 {{"conversation_id", "orig"},
                  {"sender_id", "alice"},
                  {"content_type", "no slash\r\n"},
                  {"content", "x"}},
                 alice_)
                .status,
            400u);
  EXPECT_EQ(send(alice_, std::string(129, 'c')).status, 400u);
  EXPECT_EQ(send(alice_, "conv_123e4567-e89b-12d3-a456-426614174000").status,
            202u);
}

TEST_F(Api, ThePlatformMessagesSenderRecordsItsReadReceipt) {
  ASSERT_EQ(send(alice_, "wa", "whatsapp:+5511999998888").status, 202u);
  std::string why;
  auto event = chat::parse_message_event(publisher_.last(), why);
  ASSERT_TRUE(event);
  store_->add_messages({chat::to_record(*event)});
  const std::string read = "/v1/messages/" + event->message_id + "/read";
  // Not before the platform delivered it.
  EXPECT_EQ(post(read, json::object(), alice_).status, 409u);
  store_->set_status(event->message_id, chat::MessageStatus::kDelivered, 5);
  EXPECT_EQ(post(read, json::object(), bob_).status, 404u);
  EXPECT_EQ(post(read, json::object(), alice_).status, 200u);
}

std::string form(const std::vector<std::pair<std::string, std::string>>& parts) {
  std::string body;
  for (const auto& [name, value] : parts) {
    body += "--XyZ\r\nContent-Disposition: form-data; name=\"" + name + "\"";
    if (name == "file") body += "; filename=\"a.txt\"\r\nContent-Type: text/plain";
    body += "\r\n\r\n" + value + "\r\n";
  }
  return body + "--XyZ--\r\n";
}

TEST_F(Api, UploadsTakeTheirFieldsInEitherOrderAndOnlyFromMembers) {
  ASSERT_EQ(send(alice_, "files", bob_.id).status, 202u);
  const std::string type = "multipart/form-data; boundary=XyZ";
  const auto before = call(bhttp::verb::post, "/v1/files",
                           form({{"conversation_id", "files"}, {"file", "one"}}),
                           &alice_, type);
  EXPECT_EQ(before.status, 201u) << before.body;
  // curl and k6 send the file first.
  const auto after = call(bhttp::verb::post, "/v1/files",
                          form({{"file", "two"}, {"conversation_id", "files"}}),
                          &bob_, type);
  ASSERT_EQ(after.status, 201u) << after.body;
  EXPECT_EQ(after.body["size"], 3);
  EXPECT_EQ(after.body["conversation_id"], "files");
  // A stranger's upload is refused in either order and leaves no blob.
  for (const auto& parts :
       {form({{"conversation_id", "files"}, {"file", "x"}}),
        form({{"file", "x"}, {"conversation_id", "files"}})}) {
    EXPECT_EQ(call(bhttp::verb::post, "/v1/files", parts, &carol_, type).status,
              404u);
  }
  EXPECT_EQ(call(bhttp::verb::post, "/v1/files", form({{"file", "x"}}), &alice_,
                 type)
                .status,
            400u);
  // A part name that is not UTF-8 is a 400 (never echoed raw).
  const auto odd = call(bhttp::verb::post, "/v1/files",
                        form({{"\xff\xfe", "x"}}), &alice_, type);
  EXPECT_EQ(odd.status, 400u);
  EXPECT_FALSE(odd.body.is_discarded());
  // Download links: members only, and never built from the Host header.
  const std::string link =
      "/v1/files/" + after.body["file_id"].get<std::string>() + "/download";
  EXPECT_EQ(get(link, carol_).status, 404u);
  const auto granted = get(link, alice_);
  ASSERT_EQ(granted.status, 200u);
  EXPECT_EQ(granted.body["download_url"].get<std::string>().rfind(
                "https://chat.example/v1/files/", 0),
            0u)
      << granted.body;
}

class ApiStorageLimits : public Api {
 protected:
  void SetUp() override {
    options_.user_quota_bytes = 10;
    Api::SetUp();
    ASSERT_EQ(send(alice_, "files", bob_.id).status, 202u);
  }
  Answer upload(const std::string& content, const User& as) {
    return call(bhttp::verb::post, "/v1/files",
                form({{"conversation_id", "files"}, {"file", content}}), &as,
                "multipart/form-data; boundary=XyZ");
  }
};

TEST_F(ApiStorageLimits, AUsersFilesStayWithinTheQuota) {
  EXPECT_EQ(upload("123456", alice_).status, 201u);
  const auto over = upload("12345", alice_);
  EXPECT_EQ(over.status, 507u);
  EXPECT_EQ(over.body["title"], "Insufficient Storage");
  EXPECT_EQ(upload("1234", alice_).status, 201u);  // exactly 10
  // Each user has a quota of their own.
  EXPECT_EQ(upload("12345", bob_).status, 201u);
}

class ApiNoFreeSpace : public ApiStorageLimits {
 protected:
  void SetUp() override {
    // A reserve larger than any disk: every upload would eat into it.
    options_.free_space_reserve_bytes = 1ULL << 60;
    ApiStorageLimits::SetUp();
  }
};

TEST_F(ApiNoFreeSpace, UploadsThatWouldEatTheFreeSpaceReserveAre507) {
  const auto refused = upload("x", alice_);
  EXPECT_EQ(refused.status, 507u);
  const std::string files = dir_.path() + "/blobs/files";
  EXPECT_TRUE(!std::filesystem::exists(files) ||
              std::filesystem::is_empty(files));
}

TEST_F(Api, AStoreThatCannotAnswerIs503AndTheServiceLivesOn) {
  ASSERT_EQ(send(alice_, "c1", bob_.id).status, 202u);
  // Another process holds the write lock past the busy timeout, as a long
  // write elsewhere would.
  chat_test::SqliteWriteLock holder(db_path());
  // Registration runs on the hashing threads: an escaping exception there
  // used to end the process.
  const auto reg = call(bhttp::verb::post, "/auth/register",
                        R"({"username":"erin","password":"secret-erin"})");
  EXPECT_EQ(reg.status, 503u);
  EXPECT_FALSE(reg.retry_after.empty());
  EXPECT_EQ(reg.body["status"], 503);
  // Creating a conversation writes; reading and posting to an existing one
  // do not wait for the lock (WAL readers never do).
  EXPECT_EQ(send(alice_, "new-one", bob_.id).status, 503u);
  EXPECT_EQ(post("/v1/conversations",
                 {{"type", "group"}, {"participant_ids", {bob_.id}}}, alice_)
                .status,
            503u);
  EXPECT_EQ(get("/v1/conversations/c1/messages", alice_).status, 200u);
  EXPECT_EQ(send(alice_, "c1", bob_.id).status, 202u);
  holder.release();
  // The same statements work again once the lock is free.
  EXPECT_EQ(call(bhttp::verb::post, "/auth/register",
                 R"({"username":"erin","password":"secret-erin"})")
                .status,
            201u);
  EXPECT_EQ(send(alice_, "new-one", bob_.id).status, 202u);
}

TEST_F(Api, ARetryWithTheSameIdempotencyKeyNeverStoresASecondCopy) {
  const json message = {{"conversation_id", "idem"},
                        {"sender_id", alice_.id},
                        {"recipient_id", bob_.id},
                        {"content", "once"}};
  auto send_keyed = [&](const User& as, const json& body,
                        const std::string& key) {
    return call(bhttp::verb::post, "/v1/messages", body.dump(), &as,
                "application/json", "127.0.0.1", {{"Idempotency-Key", key}});
  };
  const auto first = send_keyed(alice_, message, "retry-me-1");
  ASSERT_EQ(first.status, 202u) << first.body;
  // The answer was lost (a timeout, or a 503 at the publish deadline while
  // the broker had it after all): the client retries before it is stored.
  const auto retried = send_keyed(alice_, message, "retry-me-1");
  ASSERT_EQ(retried.status, 202u);
  EXPECT_EQ(retried.body["message_id"], first.body["message_id"]);
  // Both copies reach the router; the store keeps one.
  std::string why;
  const auto event = chat::parse_message_event(publisher_.last(), why);
  ASSERT_TRUE(event) << why;
  EXPECT_EQ(store_->add_messages({chat::to_record(*event),
                                  chat::to_record(*event)}),
            1u);
  // Once stored, a retry gets the first answer without publishing again.
  const std::size_t published = publisher_.count();
  const auto late = send_keyed(alice_, message, "retry-me-1");
  EXPECT_EQ(late.status, 202u);
  EXPECT_EQ(late.body["message_id"], first.body["message_id"]);
  EXPECT_EQ(late.body["timestamp"], event->timestamp_ms);
  EXPECT_EQ(publisher_.count(), published);
  // The same key for another message is refused; another user's identical
  // key is another message.
  json other = message;
  other["content"] = "twice?";
  EXPECT_EQ(send_keyed(alice_, other, "retry-me-1").status, 422u);
  json from_bob = message;
  from_bob["sender_id"] = bob_.id;
  from_bob["recipient_id"] = alice_.id;
  const auto bobs = send_keyed(bob_, from_bob, "retry-me-1");
  ASSERT_EQ(bobs.status, 202u);
  EXPECT_NE(bobs.body["message_id"], first.body["message_id"]);
  // A client message_id in the body works the same way.
  json with_id = message;
  with_id["message_id"] = "retry-me-1";
  EXPECT_EQ(post("/v1/messages", with_id, alice_).body["message_id"],
            first.body["message_id"]);
  EXPECT_EQ(send_keyed(alice_, with_id, "another-key").status, 400u);
  EXPECT_EQ(send_keyed(alice_, message, "bad key\x01").status, 400u);
  EXPECT_EQ(send_keyed(alice_, message, std::string(256, 'k')).status, 400u);
}

class ApiAuthLimits : public Api {
 protected:
  void SetUp() override {
    options_.user_auth_limit = {3, 0.001, 1000};
    options_.address_auth_limit = {5, 0.001, 1000};
    Api::SetUp();
  }
  Answer login(const std::string& name, const std::string& peer) {
    return call(bhttp::verb::post, "/auth/token",
                json{{"username", name}, {"password", "wrong-one"}}.dump(),
                nullptr, "application/json", peer);
  }
};

TEST_F(ApiAuthLimits, GuessingOneUsersPasswordIsLimitedPerUsername) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(login("alice", "127.0.0." + std::to_string(10 + i)).status,
              401u);
  }
  // From yet another address: the username's bucket is empty.
  const auto limited = login("alice", "127.0.0.20");
  EXPECT_EQ(limited.status, 429u);
  EXPECT_GE(std::stoi(limited.retry_after), 1);
  EXPECT_EQ(login("bob", "127.0.0.20").status, 401u);
  // Registering is counted too, so names cannot be probed through it.
  EXPECT_EQ(call(bhttp::verb::post, "/auth/register",
                 R"({"username":"alice","password":"whatever"})", nullptr,
                 "application/json", "127.0.0.21")
                .status,
            429u);
}

TEST_F(ApiAuthLimits, OneAddressIsLimitedWhateverTheNames) {
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(login("name" + std::to_string(i), "127.0.0.9").status, 401u);
  }
  EXPECT_EQ(login("name9", "127.0.0.9").status, 429u);
  EXPECT_EQ(login("name9", "127.0.0.8").status, 401u);
}

class ApiAuthQueue : public Api {
 protected:
  void SetUp() override {
    options_.auth_threads = 1;
    options_.max_auth_queue = 2;
    options_.auth_queue_deadline = std::chrono::milliseconds(200);
    Api::SetUp();
  }
};

TEST_F(ApiAuthQueue, AFloodOfLoginsIsRefusedFastInsteadOfQueuedForLong) {
  // A login that takes 1.5 s of hashing holds the only hashing thread.
  const std::string slow = chat::hash_password("slow-password", 3000000);
  store_->add_user({"u_slow", "slowpoke", slow, 1});
  std::vector<std::future<Answer>> flood;
  for (int i = 0; i < 6; ++i) {
    flood.push_back(std::async(std::launch::async, [this, i] {
      return call(bhttp::verb::post, "/auth/token",
                  json{{"username", i == 0 ? "slowpoke" : "alice"},
                       {"password", "x"}}
                      .dump(),
                  nullptr, "application/json",
                  "127.0.1." + std::to_string(i));
    }));
    if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::map<unsigned, int> statuses;
  for (auto& f : flood) ++statuses[f.get().status];
  // Two fit the queue and outwait its deadline behind the slow one; the
  // rest find it full. None waits for the hashing: all are 503 but the
  // slow login itself.
  EXPECT_EQ(statuses[401], 1) << "the slow login";
  EXPECT_EQ(statuses[503], 5);
}

class ApiCostlyHash : public Api {
 protected:
  void SetUp() override {
    options_.password_iterations = 300000;  // ~0.1 s per hash here
    Api::SetUp();
  }
};

TEST_F(ApiCostlyHash, AnUnknownUsernameCostsAWholePasswordHash) {
  // Unknown names used to answer in 0.4 ms against 190 ms for a wrong
  // password, which told an attacker which names exist. A lower bound on
  // the time is the work done (noise only adds to it).
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(call(bhttp::verb::post, "/auth/token",
                 R"({"username":"nobody-here","password":"guess"})")
                .status,
            401u);
  EXPECT_GE(std::chrono::steady_clock::now() - started,
            std::chrono::milliseconds(20));
}

}  // namespace
