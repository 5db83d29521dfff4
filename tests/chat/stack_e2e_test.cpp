// chat4all end to end: the development broker, the API and two routers as
// real processes on free loopback ports. Every accepted message must be
// stored exactly once, in per-conversation order, whatever else happens:
// bad input, a broker outage, a router killed under load.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jwt.hpp"
#include "process.hpp"
#include "stack_client.hpp"
#include "store.hpp"

namespace {

using namespace std::chrono_literals;
using chat_test::eventually;
using chat_test::http_request;
using chat_test::Process;
using nlohmann::json;

const std::string kSecret = "stack-e2e-test-secret-of-32-bytes!!";

using chat_test::User;
using chat_test::wait_ready;

class Stack : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<chat_test::TempDir>();
    const std::string bin = CHAT_BIN_DIR;
    const std::string& d = dir_->path();
    brokers_ = chat_test::start_broker(broker_, bin, d);
    ASSERT_FALSE(brokers_.empty()) << chat_test::tail_of(d + "/broker.log");
    api_ = chat_test::start_api(bin, brokers_, d, kSecret, d + "/api.log",
                                {"--publish-timeout-ms", "3000"});
    for (int k = 1; k <= 2; ++k) routers_.push_back(start_router(k));
    port_ = chat_test::listening_port(d + "/api.log", "api_listening");
    ASSERT_GT(port_, 0);
    ASSERT_TRUE(wait_ready(port_)) << "api never became ready\n"
                                   << chat_test::tail_of(d + "/api.log");
  }

  static void TearDownTestSuite() {
    routers_.clear();
    api_.reset();
    broker_.reset();
    dir_.reset();
  }

  static std::unique_ptr<Process> start_router(int k) {
    const std::string& d = dir_->path();
    // A fresh log per start: a restarted router must not be mistaken for
    // the one it replaces.
    const std::string log = d + "/router-" + std::to_string(k) + "-" +
                            std::to_string(++router_starts_) + ".log";
    auto router = std::make_unique<Process>(
        std::vector<std::string>{std::string(CHAT_BIN_DIR) + "/chat-router",
                                 "--brokers", brokers_, "--data-dir", d,
                                 "--metrics-port", "0", "--instance",
                                 "router-" + std::to_string(k)},
        log);
    EXPECT_TRUE(
        wait_ready(chat_test::listening_port(log, "endpoint_listening")))
        << "router " << k << " never became ready\n"
        << chat_test::tail_of(log);
    return router;
  }

  static std::optional<chat_test::HttpResponse> call(
      const std::string& method, const std::string& target,
      const std::string& body = {}, const std::string& token = {}) {
    return chat_test::api_call(port_, method, target, body, token);
  }

  static User login(const std::string& name, const std::string& password) {
    return chat_test::login(port_, kSecret, name, password);
  }

  static User new_user(const std::string& name) {
    return chat_test::new_user(port_, kSecret, name);
  }

  /// Sends a message; returns its id, or empty if not accepted.
  static std::string send(const User& from, const std::string& conversation,
                          const std::string& content,
                          const std::string& recipient = {}) {
    json body = {{"conversation_id", conversation},
                 {"sender_id", from.id},
                 {"content", content}};
    if (!recipient.empty()) body["recipient_id"] = recipient;
    auto r = call("POST", "/v1/messages", body.dump(), from.token);
    if (!r || r->status != 202) return {};
    return json::parse(r->body)["message_id"];
  }

  /// Message ids of a conversation as the API pages them out.
  static std::vector<std::string> history_ids(const User& reader,
                                              const std::string& conversation) {
    std::vector<std::string> ids;
    for (int offset = 0;; offset += 100) {
      auto r = call("GET",
                    "/v1/conversations/" + conversation +
                        "/messages?limit=100&offset=" + std::to_string(offset),
                    {}, reader.token);
      if (!r || r->status != 200) return ids;
      const json page = json::parse(r->body);
      for (const auto& m : page["messages"]) ids.push_back(m["message_id"]);
      if (!page["pagination"]["has_more"].get<bool>()) return ids;
    }
  }

  static std::unique_ptr<chat::Store> store() {
    return chat::open_sqlite_store(dir_->path() + "/chat.db");
  }

  static inline std::unique_ptr<chat_test::TempDir> dir_;
  static inline std::string brokers_;
  static inline std::unique_ptr<Process> broker_;
  static inline std::unique_ptr<Process> api_;
  static inline std::vector<std::unique_ptr<Process>> routers_;
  static inline int port_ = 0;
  static inline int router_starts_ = 0;
};

TEST_F(Stack, ThousandMessagesStoredOnceInOrderWithPagination) {
  const User a = login("user_a", "pass_a");
  const User b = login("user_b", "pass_b");
  constexpr int kConversations = 20;
  constexpr int kMessages = 1000;
  std::map<std::string, std::vector<std::string>> sent;
  for (int i = 0; i < kMessages; ++i) {
    const std::string conversation =
        "e2e-" + std::to_string(i % kConversations);
    const bool from_a = (i / kConversations) % 2 == 0;
    const std::string id =
        send(from_a ? a : b, conversation, "message " + std::to_string(i),
             from_a ? b.id : a.id);
    ASSERT_FALSE(id.empty()) << "message " << i << " not accepted";
    sent[conversation].push_back(id);
  }
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& [conversation, ids] : sent) {
          if (history_ids(a, conversation).size() != ids.size()) return false;
        }
        return true;
      },
      60s))
      << "not every accepted message was stored";
  for (const auto& [conversation, ids] : sent) {
    EXPECT_EQ(history_ids(b, conversation), ids) << conversation;
  }
  auto page = call("GET", "/v1/conversations/e2e-0/messages?limit=20&offset=40",
                   {}, a.token);
  ASSERT_TRUE(page && page->status == 200);
  const json body = json::parse(page->body);
  EXPECT_EQ(body["pagination"]["returned"], 10);
  EXPECT_FALSE(body["pagination"]["has_more"].get<bool>());
  EXPECT_EQ(body["messages"][0]["message_id"], sent["e2e-0"][40]);
}

TEST_F(Stack, OnlyMembersReadAConversation) {
  const User a = login("user_a", "pass_a");
  const User carol = new_user("carol");
  const std::string id =
      send(a, "private-1", "just for b", login("user_b", "pass_b").id);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(
      eventually([&] { return history_ids(a, "private-1").size() == 1; }, 30s));
  auto stranger =
      call("GET", "/v1/conversations/private-1/messages", {}, carol.token);
  ASSERT_TRUE(stranger);
  EXPECT_EQ(stranger->status, 404);
  // As reproduced against the old stack: the stranger posts once (that used
  // to make her a participant), then reads again once routers have stored
  // everything there is.
  auto post = call("POST", "/v1/messages",
                   json{{"conversation_id", "private-1"},
                        {"sender_id", carol.id},
                        {"content", "let me in"}}
                       .dump(),
                   carol.token);
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 403) << post->body;
  ASSERT_FALSE(send(a, "private-1", "still just for b").empty());
  ASSERT_TRUE(
      eventually([&] { return history_ids(a, "private-1").size() == 2; }, 30s));
  stranger =
      call("GET", "/v1/conversations/private-1/messages", {}, carol.token);
  EXPECT_EQ(stranger->status, 404);
  EXPECT_EQ(call("GET", "/v1/conversations/private-1", {}, carol.token)->status,
            404);
  auto missing =
      call("GET", "/v1/conversations/nope/messages", {}, carol.token);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(stranger->body)["title"],
            json::parse(missing->body)["title"]);
}

TEST_F(Stack, ReadIsForTheRecipientAndIdempotent) {
  const User a = login("user_a", "pass_a");
  const User b = login("user_b", "pass_b");
  const std::string id = send(a, "read-1", "read me", b.id);
  ASSERT_TRUE(
      eventually([&] { return history_ids(b, "read-1").size() == 1; }, 30s));
  auto by_sender = call("POST", "/v1/messages/" + id + "/read", {}, a.token);
  ASSERT_TRUE(by_sender);
  EXPECT_EQ(by_sender->status, 404);
  auto first = call("POST", "/v1/messages/" + id + "/read", {}, b.token);
  auto second = call("POST", "/v1/messages/" + id + "/read", {}, b.token);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(json::parse(first->body)["read_at"],
            json::parse(second->body)["read_at"]);
  auto unknown = call("POST", "/v1/messages/m_nope/read", {}, b.token);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(Stack, BadInputGetsItsStatusAndStoresNothing) {
  const User a = login("user_a", "pass_a");
  const chat::JwtSigner signer(kSecret);
  const std::string expired = signer.issue(a.id, time(nullptr) - 7200);
  const chat::JwtSigner forger(std::string(40, 'f'));
  const std::string forged = forger.issue(a.id, time(nullptr));
  const std::string ok_body = json{
      {"conversation_id", "bad-input"},
      {"sender_id", a.id},
      {"content", "x"}}.dump();
  auto body_with = [&](const char* key, json value) {
    json body = json::parse(ok_body);
    body[key] = std::move(value);
    return body.dump();
  };
  struct Case {
    std::string name, method, target, body, token;
    int status;
  };
  const std::vector<Case> cases = {
      {"no token", "POST", "/v1/messages", ok_body, "", 401},
      {"expired token", "POST", "/v1/messages", ok_body, expired, 401},
      {"forged token", "POST", "/v1/messages", ok_body, forged, 401},
      {"garbage token", "POST", "/v1/messages", ok_body, "a.b.c", 401},
      {"wrong method", "DELETE", "/v1/messages", "", a.token, 405},
      {"wrong method on auth", "GET", "/auth/token", "", "", 405},
      {"unknown path", "GET", "/v2/whatever", "", a.token, 404},
      {"malformed json", "POST", "/v1/messages",
       "{\"conversation_id\":", a.token, 400},
      {"json array", "POST", "/v1/messages", "[1]", a.token, 400},
      {"invalid utf-8", "POST", "/v1/messages",
       R"({"conversation_id":"bad-input","sender_id":")" + a.id +
           "\",\"content\":\"\xC0\xAF\"}",
       a.token, 400},
      {"content over 10 KiB", "POST", "/v1/messages",
       body_with("content", std::string(10 * 1024 + 1, 'x')), a.token, 413},
      {"body over the server limit", "POST", "/v1/messages",
       body_with("content", std::string(70 * 1024, 'x')), a.token, 413},
      {"empty content", "POST", "/v1/messages", body_with("content", ""),
       a.token, 400},
      {"someone else's sender_id", "POST", "/v1/messages",
       body_with("sender_id", "u_other"), a.token, 403},
      {"bad conversation id", "POST", "/v1/messages",
       body_with("conversation_id", "has space"), a.token, 400},
      {"bad recipient", "POST", "/v1/messages",
       body_with("recipient_id", "sms:+1234567"), a.token, 400},
      {"unknown file", "POST", "/v1/messages", body_with("file_id", "f_1"),
       a.token, 400},
      {"limit out of range", "GET",
       "/v1/conversations/bad-input/messages?limit=101", "", a.token, 400},
      {"register without password", "POST", "/auth/register",
       R"({"username":"dave"})", "", 400},
      {"wrong password", "POST", "/auth/token",
       R"({"username":"user_a","password":"nope"})", "", 401},
  };
  for (const auto& c : cases) {
    auto r = call(c.method, c.target, c.body, c.token);
    ASSERT_TRUE(r) << c.name;
    EXPECT_EQ(r->status, c.status) << c.name << ": " << r->body;
    if (r->status >= 400 && c.method != "HEAD") {
      EXPECT_NO_THROW(json::parse(r->body)) << c.name;
    }
  }
  auto huge_headers =
      http_request(port_, "GET", "/v1/conversations/x/messages", {},
                   {"X-Filler: " + std::string(16 * 1024, 'h')});
  ASSERT_TRUE(huge_headers);
  EXPECT_EQ(huge_headers->status, 431);
  // Bytes that are not UTF-8 in headers, a token and a form's part name:
  // a 4xx each, never a 500, and never raw in a log line.
  const std::string bad = "\xff\xfe\xc0\xaf";
  const std::vector<std::pair<std::vector<std::string>, std::string>> odd = {
      {{"Authorization: Bearer " + bad}, "/v1/conversations"},
      {{"Authorization: Bearer " + a.token, "Idempotency-Key: " + bad},
       "/v1/messages"},
      {{"Authorization: Bearer " + a.token,
        "Content-Type: multipart/form-data; boundary=" + bad},
       "/v1/files"},
  };
  for (const auto& [headers, target] : odd) {
    auto r = http_request(port_, "POST", target, ok_body, headers);
    ASSERT_TRUE(r) << target;
    EXPECT_GE(r->status, 400) << target;
    EXPECT_LT(r->status, 500) << target << ": " << r->body;
  }
  auto part = http_request(
      port_, "POST", "/v1/files",
      "--b\r\nContent-Disposition: form-data; name=\"" + bad +
          "\"\r\n\r\nx\r\n--b--\r\n",
      {"Authorization: Bearer " + a.token,
       "Content-Type: multipart/form-data; boundary=b"});
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 400) << part->body;
  {
    std::ifstream log(dir_->path() + "/api.log");
    int lines = 0;
    for (std::string line; std::getline(log, line); ++lines) {
      // nlohmann's parser refuses invalid UTF-8.
      EXPECT_NO_THROW((void)json::parse(line)) << "api.log: " << line;
    }
    EXPECT_GT(lines, 0);
  }
  // A good message afterwards proves the partition flows, and that none of
  // the bad ones reached the store.
  ASSERT_FALSE(send(a, "bad-input", "the only one").empty());
  ASSERT_TRUE(
      eventually([&] { return history_ids(a, "bad-input").size() == 1; }, 30s));
  EXPECT_EQ(store()->history("bad-input", 100, 0).messages.size(), 1u);
}

TEST_F(Stack, BrokerOutageAnswers503ThenRecoversWithoutLoss) {
  const User a = login("user_a", "pass_a");
  std::vector<std::string> accepted;
  accepted.push_back(send(a, "outage", "before"));
  ASSERT_FALSE(accepted.back().empty());
  broker_->signal(SIGUSR1);  // brokers down
  ASSERT_TRUE(eventually(
      [&] {
        auto r = chat_test::http_get(port_, "/health/ready");
        return r && r->status == 503;
      },
      30s))
      << "readiness did not fail while the broker was down";
  auto during = call("POST", "/v1/messages",
                     json{{"conversation_id", "outage"},
                          {"sender_id", a.id},
                          {"content", "during"}}
                         .dump(),
                     a.token);
  ASSERT_TRUE(during);
  EXPECT_EQ(during->status, 503);
  broker_->signal(SIGUSR2);  // back up
  ASSERT_TRUE(wait_ready(port_)) << "readiness did not recover";
  ASSERT_TRUE(eventually(
      [&] {
        const std::string id = send(a, "outage", "after");
        if (!id.empty()) accepted.push_back(id);
        return !id.empty();
      },
      30s));
  ASSERT_TRUE(
      eventually([&] { return history_ids(a, "outage") == accepted; }, 60s))
      << "a message accepted around the outage was lost";
}

TEST_F(Stack, MetricsCanRequireCredentialsAndBadLimitsAreRefused) {
  const std::string& d = dir_->path();
  auto guarded = chat_test::start_api(
      CHAT_BIN_DIR, brokers_, d + "/guarded", kSecret, d + "/guarded.log",
      {"--metrics-auth", "bearer:scrape-token"});
  const int port = chat_test::listening_port(d + "/guarded.log", "api_listening");
  ASSERT_GT(port, 0);
  EXPECT_EQ(http_request(port, "GET", "/metrics")->status, 401);
  EXPECT_EQ(http_request(port, "GET", "/metrics", {},
                         {"Authorization: Bearer wrong"})
                ->status,
            401);
  const auto scraped = http_request(port, "GET", "/metrics", {},
                                    {"Authorization: Bearer scrape-token"});
  ASSERT_TRUE(scraped);
  EXPECT_EQ(scraped->status, 200);
  EXPECT_NE(scraped->body.find("chat_messages_accepted_total"),
            std::string::npos);
  // Probes stay open for supervisors.
  EXPECT_TRUE(wait_ready(port));
  // Limits that contradict each other are refused at start-up, saying why.
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--handler-timeout-ms", "1000"},
        std::vector<std::string>{"--drain-timeout-ms", "1000"},
        std::vector<std::string>{"--metrics-auth", "token-without-scheme"}}) {
    const std::string log = d + "/refused-" + bad[0].substr(2) + ".log";
    auto refused = chat_test::start_api(CHAT_BIN_DIR, brokers_, d + "/refused",
                                        kSecret, log, bad);
    const auto code = refused->wait(10s);
    ASSERT_TRUE(code) << bad[0] << " was accepted";
    EXPECT_NE(*code, 0) << bad[0];
    EXPECT_NE(chat_test::tail_of(log).find(bad[0]), std::string::npos)
        << chat_test::tail_of(log);
  }
}

TEST_F(Stack, KillingARouterUnderLoadLosesNothing) {
  const User a = login("user_a", "pass_a");
  std::mutex mutex;
  std::vector<std::string> accepted;
  std::atomic<bool> stop{false};
  std::thread load([&] {
    for (int i = 0; !stop && i < 2000; ++i) {
      const std::string id = send(a, "failover-" + std::to_string(i % 12),
                                  "load " + std::to_string(i));
      if (id.empty()) continue;
      std::lock_guard<std::mutex> lock(mutex);
      accepted.push_back(id);
    }
  });
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return accepted.size() >= 200;
      },
      60s));
  routers_.back()->signal(SIGKILL);
  EXPECT_TRUE(eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return accepted.size() >= 600;
      },
      60s));
  stop = true;
  load.join();
  routers_.pop_back();
  routers_.push_back(start_router(2));  // leave the suite as it found it
  auto db = store();
  ASSERT_TRUE(eventually(
      [&] {
        std::size_t stored = 0;
        for (int c = 0; c < 12; ++c) {
          stored += db->history("failover-" + std::to_string(c), 10000, 0)
                        .messages.size();
        }
        return stored == accepted.size();
      },
      90s))
      << "accepted messages missing after the failover";
  std::set<std::string> unique;
  for (int c = 0; c < 12; ++c) {
    for (const auto& m :
         db->history("failover-" + std::to_string(c), 10000, 0).messages) {
      EXPECT_TRUE(unique.insert(m.message_id).second) << "stored twice";
    }
  }
  for (const auto& id : accepted) EXPECT_TRUE(unique.count(id)) << id;
}

}  // namespace
