// SIGTERM drains the API: the development broker, a router and the API as
// real processes on loopback, POST /v1/messages from several threads, and
// SIGTERM mid-load. Every request that reached the API is answered (a
// client may find the connection refused, which tells it nothing was sent,
// never a connection closed on a request it sent), every 202 is stored
// exactly once, and the API exits 0 within its drain deadline: also while
// Kafka's acknowledgements are pending.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"
#include "stack_client.hpp"
#include "store.hpp"

namespace {

using namespace std::chrono_literals;
using chat_test::eventually;
using chat_test::Process;
using chat_test::User;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kSecret = "drain-e2e-test-secret-of-32-bytes!!!";
/// The API's default drain deadline (HttpServerOptions::drain_timeout).
constexpr auto kDrainDeadline = 10s;

/// How a request ended, as its client saw it.
enum class Outcome {
  kAnswered,  // a whole response
  kRefused,   // the connection was refused: the client knows nothing went
  kLost,      // sent on an open connection, closed without a whole response
};

struct Exchange {
  Outcome outcome = Outcome::kLost;
  int status = 0;
  std::string body;
  bool closes = false;  // the response said `Connection: close`
  std::string detail;   // why it was lost or refused
};

/// An HTTP/1.1 client on one connection, kept alive while the server lets
/// it (or a fresh connection per request): it tells apart a refused
/// connection from a request sent and not answered, which the test client
/// helpers do not.
class Client {
 public:
  Client(int port, bool keep_alive) : port_(port), keep_alive_(keep_alive) {}
  ~Client() { drop(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Exchange post(const std::string& target, const std::string& body,
                const std::string& token) {
    return request("POST", target, body, token);
  }

  Exchange request(const std::string& method, const std::string& target,
                   const std::string& body = {},
                   const std::string& token = {}) {
    Exchange out;
    // A kept-alive connection the server closed meanwhile (between two
    // requests) is noticed before it is used, as HTTP clients do.
    if (fd_ >= 0) {
      pollfd p{fd_, POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) != 0) drop();
    }
    if (fd_ < 0 && !connect(out)) return out;
    const std::string bytes =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") +
        (body.empty() ? "" : "Content-Type: application/json\r\n") +
        "Content-Length: " + std::to_string(body.size()) + "\r\n" +
        (keep_alive_ ? "" : "Connection: close\r\n") + "\r\n" + body;
    std::string_view rest = bytes;
    while (!rest.empty()) {
      const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        out.detail = std::string("send: ") + std::strerror(errno);
        drop();
        return out;
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    read_response(out);
    if (out.outcome != Outcome::kAnswered || out.closes || !keep_alive_) {
      drop();
    }
    return out;
  }

 private:
  bool connect(Exchange& out) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    // Longer than the API's 3 s publish deadline: a request that waits for
    // Kafka is answered within it.
    timeval timeout{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) ==
        0) {
      return true;
    }
    out.outcome = Outcome::kRefused;
    out.detail = std::string("connect: ") + std::strerror(errno);
    drop();
    return false;
  }

  /// Reads one response framed by its Content-Length (the API's always
  /// are); anything else is kLost.
  void read_response(Exchange& out) {
    std::string raw;
    std::size_t header_end = std::string::npos;
    std::size_t total = std::string::npos;
    char buffer[4096];
    while (total == std::string::npos || raw.size() < total) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        out.detail = n == 0 ? "closed after " + std::to_string(raw.size()) +
                                  " bytes of the response"
                            : std::string("recv: ") + std::strerror(errno);
        return;
      }
      raw.append(buffer, static_cast<std::size_t>(n));
      if (header_end != std::string::npos) continue;
      header_end = raw.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      std::string head = raw.substr(0, header_end);
      std::transform(head.begin(), head.end(), head.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      const auto length = head.find("\r\ncontent-length: ");
      if (raw.rfind("HTTP/1.1 ", 0) != 0 || length == std::string::npos) {
        out.detail = "not a framed response: " + raw.substr(0, header_end);
        return;
      }
      total =
          header_end + 4 +
          std::stoul(head.substr(length + std::strlen("\r\ncontent-length: ")));
      out.closes = head.find("\r\nconnection: close") != std::string::npos;
      out.status = std::atoi(raw.c_str() + 9);
    }
    out.outcome = Outcome::kAnswered;
    out.body = raw.substr(header_end + 4);
  }

  void drop() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int port_;
  bool keep_alive_;
  int fd_ = -1;
};

/// Threads posting messages as fast as the API answers, each in its own
/// conversation, until the API refuses their connections. Even threads keep
/// their connection alive, odd ones open one per request.
class Load {
 public:
  struct Sent {
    std::string content;
    Exchange exchange;
    Clock::time_point answered;
  };

  Load(int port, const User& from, const std::string& to,
       const std::string& tag, int threads)
      : outstanding_since_(static_cast<std::size_t>(threads)),
        sent_(static_cast<std::size_t>(threads)) {
    for (int t = 0; t < threads; ++t) {
      conversations_.push_back("drain-" + tag + "-" + std::to_string(t));
    }
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back(
          [this, t, port, from, to] { run(t, port, from, to); });
    }
  }
  /// Stops the threads that still post (the test failed), and waits.
  ~Load() {
    stop_ = true;
    finish();
  }

  /// Waits for the threads, which stop once the API refuses them.
  void finish() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int accepted() const { return accepted_; }
  /// Whether every thread has waited for an answer for at least `waited`.
  bool all_waiting(std::chrono::milliseconds waited) const {
    const auto now = Clock::now().time_since_epoch().count();
    return std::all_of(outstanding_since_.begin(), outstanding_since_.end(),
                       [&](const std::atomic<Clock::rep>& since) {
                         const auto at = since.load();
                         return at != 0 && Clock::duration(now - at) >= waited;
                       });
  }
  /// After finish().
  const std::vector<std::vector<Sent>>& sent() const { return sent_; }
  const std::vector<std::string>& conversations() const {
    return conversations_;
  }

 private:
  void run(int t, int port, const User& from, const std::string& to) {
    Client client(port, t % 2 == 0);
    auto& mine = sent_[static_cast<std::size_t>(t)];
    auto& since = outstanding_since_[static_cast<std::size_t>(t)];
    for (int seq = 0; !stop_; ++seq) {
      const std::string content = conversations_[static_cast<std::size_t>(t)] +
                                  "-" + std::to_string(seq);
      const json body = {
          {"conversation_id", conversations_[static_cast<std::size_t>(t)]},
          {"sender_id", from.id},
          {"recipient_id", to},
          {"content", content}};
      since = Clock::now().time_since_epoch().count();
      Exchange exchange = client.post("/v1/messages", body.dump(), from.token);
      since = 0;
      if (exchange.status == 202) ++accepted_;
      const bool refused = exchange.outcome == Outcome::kRefused;
      mine.push_back({content, std::move(exchange), Clock::now()});
      // Refused: the API closed its listening socket, for good.
      if (refused) return;
    }
  }

  std::vector<std::string> conversations_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<std::atomic<Clock::rep>> outstanding_since_;  // 0: none
  std::vector<std::vector<Sent>> sent_;                     // per thread
  std::vector<std::thread> threads_;
};

class Drain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<chat_test::TempDir>();
    const std::string& d = dir_->path();
    brokers_ = chat_test::start_broker(broker_, CHAT_BIN_DIR, d);
    ASSERT_FALSE(brokers_.empty()) << chat_test::tail_of(d + "/broker.log");
    const std::string log = d + "/router.log";
    router_ = std::make_unique<Process>(
        std::vector<std::string>{
            std::string(CHAT_BIN_DIR) + "/chat-router", "--brokers", brokers_,
            "--data-dir", d, "--metrics-port", "0", "--instance", "router-1"},
        log);
    ASSERT_TRUE(chat_test::wait_ready(
        chat_test::listening_port(log, "endpoint_listening")))
        << "the router never became ready\n"
        << chat_test::tail_of(log);
  }

  static void TearDownTestSuite() {
    router_.reset();
    broker_.reset();
    dir_.reset();
  }

  /// An API of its own per test (each test stops it), logging to a fresh
  /// file.
  void SetUp() override {
    const std::string& d = dir_->path();
    api_log_ = d + "/api-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name() +
               ".log";
    api_ = chat_test::start_api(CHAT_BIN_DIR, brokers_, d, kSecret, api_log_,
                                {"--publish-timeout-ms", "3000"});
    port_ = chat_test::listening_port(api_log_, "api_listening");
    ASSERT_GT(port_, 0);
    ASSERT_TRUE(chat_test::wait_ready(port_)) << "the API never became ready\n"
                                              << chat_test::tail_of(api_log_);
    a_ = chat_test::login(port_, kSecret, "user_a", "pass_a");
    b_ = chat_test::login(port_, kSecret, "user_b", "pass_b");
    ASSERT_FALSE(a_.token.empty());
    ASSERT_FALSE(b_.id.empty());
  }

  void TearDown() override { api_.reset(); }

  /// Sends SIGTERM; returns how long the API took to exit, after checking it
  /// exited 0 within the drain deadline.
  Clock::duration terminate_api() {
    const auto signalled = Clock::now();
    api_->signal(SIGTERM);
    const auto code = api_->wait(kDrainDeadline + 20s);
    const auto took = Clock::now() - signalled;
    EXPECT_TRUE(code) << "the API did not exit\n"
                      << chat_test::tail_of(api_log_);
    if (code) {
      EXPECT_EQ(*code, 0) << chat_test::tail_of(api_log_);
    }
    EXPECT_LT(took, kDrainDeadline) << chat_test::tail_of(api_log_);
    return took;
  }

  /// The number field `key` of the API's `event` log line.
  std::optional<long> logged(const std::string& event, const std::string& key) {
    const auto line =
        chat_test::wait_for_line(api_log_, "\"event\":\"" + event + "\"", 5s);
    EXPECT_TRUE(line) << "no " << event << "\n" << chat_test::tail_of(api_log_);
    if (line) std::cout << "[ drain    ] " << *line << "\n";
    return line ? chat_test::json_int_field(*line, key) : std::nullopt;
  }

  /// Checks that every request was answered or refused (none lost), and
  /// returns the answered ones' statuses, counted.
  static std::map<int, int> tally(const Load& load) {
    std::map<int, int> statuses;
    int refused = 0;
    for (const auto& thread : load.sent()) {
      for (const auto& s : thread) {
        if (s.exchange.outcome == Outcome::kAnswered) {
          ++statuses[s.exchange.status];
        } else if (s.exchange.outcome == Outcome::kRefused) {
          ++refused;
        } else {
          ADD_FAILURE() << s.content << " was sent and never answered: "
                        << s.exchange.detail;
        }
      }
    }
    // How each thread stopped: refused, once the API stopped listening.
    EXPECT_EQ(refused, static_cast<int>(load.sent().size()));
    std::cout << "[ drain    ] refused " << refused << ", answered";
    for (const auto& [status, count] : statuses) {
      std::cout << " " << status << " x" << count;
    }
    std::cout << "\n";
    return statuses;
  }

  /// Every 202 is stored once, with the id the API answered; nothing sent
  /// is stored twice. (A 503 after the publish deadline may still have
  /// reached Kafka: it may be stored, once.)
  static void expect_stored_once(const Load& load) {
    std::map<std::string, std::string> accepted;  // content -> message_id
    for (const auto& thread : load.sent()) {
      for (const auto& s : thread) {
        if (s.exchange.status != 202) continue;
        accepted[s.content] = json::parse(s.exchange.body)["message_id"];
      }
    }
    auto db = chat::open_sqlite_store(dir_->path() + "/chat.db");
    auto stored = [&] {
      std::vector<chat::MessageRecord> all;
      for (const auto& c : load.conversations()) {
        auto page = db->history(c, 1000000, 0).messages;
        all.insert(all.end(), page.begin(), page.end());
      }
      return all;
    };
    ASSERT_TRUE(eventually(
        [&] {
          std::set<std::string> ids;
          for (const auto& m : stored()) ids.insert(m.message_id);
          return std::all_of(
              accepted.begin(), accepted.end(),
              [&](const auto& a) { return ids.count(a.second); });
        },
        90s))
        << "accepted messages missing from the store";
    std::set<std::string> contents;
    for (const auto& m : stored()) {
      EXPECT_TRUE(contents.insert(m.content).second)
          << m.content << " stored twice";
      const auto it = accepted.find(m.content);
      if (it != accepted.end()) {
        EXPECT_EQ(m.message_id, it->second);
      }
    }
    EXPECT_GE(contents.size(), accepted.size());
  }

  static inline std::unique_ptr<chat_test::TempDir> dir_;
  static inline std::string brokers_;
  static inline std::unique_ptr<Process> broker_;
  static inline std::unique_ptr<Process> router_;
  std::unique_ptr<Process> api_;
  std::string api_log_;
  int port_ = 0;
  User a_;
  User b_;
};

constexpr int kThreads = 6;

TEST_F(Drain, SigtermUnderLoadAnswersEveryRequestThatReachedTheApi) {
  Load load(port_, a_, b_.id, "load", kThreads);
  ASSERT_TRUE(eventually([&] { return load.accepted() >= 300; }, 60s))
      << chat_test::tail_of(api_log_);
  const auto signalled = Clock::now();
  terminate_api();
  load.finish();

  const auto statuses = tally(load);
  EXPECT_EQ(statuses, (std::map<int, int>{{202, load.accepted()}}))
      << "only 202s under a healthy broker";
  int closing_answers = 0;  // on kept-alive connections
  int after_signal = 0;
  for (std::size_t t = 0; t < load.sent().size(); ++t) {
    for (const auto& s : load.sent()[t]) {
      if (s.exchange.outcome != Outcome::kAnswered) continue;
      if (t % 2 == 0 && s.exchange.closes) ++closing_answers;
      after_signal += s.answered > signalled ? 1 : 0;
    }
  }
  EXPECT_GT(after_signal, 0) << "requests under way at SIGTERM were answered";
  // Kept-alive connections were told they close, with an answer (not
  // closed under their next request).
  EXPECT_GT(closing_answers, 0);
  logged("api_draining", "in_flight");  // shown, varies
  EXPECT_EQ(logged("api_stopped", "cut_off"), 0);
  expect_stored_once(load);
}

TEST_F(Drain, RequestsWaitingForKafkaAreAnsweredBeforeTheApiExits) {
  Load load(port_, a_, b_.id, "kafka", kThreads);
  ASSERT_TRUE(eventually([&] { return load.accepted() >= 100; }, 60s))
      << chat_test::tail_of(api_log_);
  // A load balancer's probe, on a connection it keeps alive.
  Client probe(port_, true);
  ASSERT_EQ(probe.request("GET", "/health/ready").status, 200);
  // The broker goes away: every thread's next message waits for its
  // acknowledgement (up to the 3 s publish deadline).
  broker_->signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return load.all_waiting(300ms); }, 10s));
  const auto signalled = Clock::now();
  api_->signal(SIGTERM);
  ASSERT_TRUE(
      chat_test::wait_for_line(api_log_, "\"event\":\"api_draining\"", 5s));
  // Readiness fails: the balancer sends no more (and this connection
  // closes with the answer).
  const Exchange ready = probe.request("GET", "/health/ready");
  EXPECT_EQ(ready.status, 503) << ready.detail;
  EXPECT_TRUE(ready.closes);
  EXPECT_NE(ready.body.find("draining"), std::string::npos) << ready.body;
  // The API drains and holds them (the old stop() cut them off here)...
  EXPECT_TRUE(load.all_waiting(300ms));
  EXPECT_FALSE(
      chat_test::wait_for_line(api_log_, "\"event\":\"api_stopped\"", 0ms));
  // ...until the broker is back: the messages waiting go through (202), or
  // meet their deadline first (503). Either way they are answered.
  broker_->signal(SIGUSR2);
  const auto code = api_->wait(kDrainDeadline + 20s);
  const auto took = Clock::now() - signalled;
  ASSERT_TRUE(code) << chat_test::tail_of(api_log_);
  EXPECT_EQ(*code, 0) << chat_test::tail_of(api_log_);
  EXPECT_LT(took, kDrainDeadline);
  load.finish();

  EXPECT_EQ(logged("api_draining", "in_flight"), kThreads)
      << "every thread's request was waiting for Kafka";
  EXPECT_EQ(logged("api_stopped", "cut_off"), 0);
  const auto drained = logged("api_stopped", "drain_ms");
  EXPECT_GE(drained.value_or(0), 100) << "the drain waited for Kafka";
  const auto statuses = tally(load);
  for (const auto& [status, count] : statuses) {
    EXPECT_TRUE(status == 202 || status == 503) << status << " x" << count;
  }
  expect_stored_once(load);
}

}  // namespace
