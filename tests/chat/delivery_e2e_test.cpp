// chat4all delivery end to end: broker, API, router, platform simulator and
// both connectors as real processes on free loopback ports (one stack for
// the suite). Messages to WhatsApp and Instagram recipients must reach the
// simulator exactly once and in per-conversation order, whatever the
// platform does (errors, outages) or the connector suffers (kill -9: it
// sends some again, and the platform, keyed by message_id, delivers them
// once).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"
#include "stack_client.hpp"

namespace {

using namespace std::chrono_literals;
using chat_test::eventually;
using chat_test::http_request;
using chat_test::Process;
using nlohmann::json;

const std::string kSecret = "delivery-e2e-test-secret-of-32-bytes!";
/// The connectors' in-flight window (their default): the most messages a
/// kill -9 can make them send twice (the platform delivers them once).
constexpr int kMaxInFlight = 64;
/// The outage of the store-and-forward test, as issue 9's experiment 4
/// states it.
constexpr auto kOutage = 60s;

using chat_test::listening_port;
using chat_test::User;
using chat_test::wait_ready;

std::string whatsapp(int i) {
  return "whatsapp:+551199990" + std::to_string(1000 + i);
}
std::string instagram(int i) {
  return "instagram:@ig_user_" + std::to_string(i);
}

class Delivery : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<chat_test::TempDir>();
    const std::string bin = CHAT_BIN_DIR;
    const std::string& d = dir_->path();
    brokers_ = chat_test::start_broker(broker_, bin, d);
    ASSERT_FALSE(brokers_.empty()) << chat_test::tail_of(d + "/broker.log");
    api_ = chat_test::start_api(bin, brokers_, d, kSecret, d + "/api.log");
    router_ = std::make_unique<Process>(
        std::vector<std::string>{bin + "/chat-router", "--brokers", brokers_,
                                 "--data-dir", d, "--metrics-port", "0"},
        d + "/router.log");
    platform_ = std::make_unique<Process>(
        std::vector<std::string>{bin + "/chat-platform-sim", "--port", "0",
                                 "--whatsapp-latency-ms", "0",
                                 "--instagram-latency-ms", "0"},
        d + "/platform.log");
    api_port_ = listening_port(d + "/api.log", "api_listening");
    platform_port_ = listening_port(d + "/platform.log", "platform_listening");
    ASSERT_GT(api_port_, 0);
    ASSERT_GT(platform_port_, 0);
    start_connector("whatsapp", 5);
    start_connector("instagram", 3);
    ASSERT_TRUE(wait_ready(api_port_));
    ASSERT_TRUE(
        wait_ready(listening_port(d + "/router.log", "endpoint_listening")));
    ASSERT_TRUE(wait_ready(connector_port("whatsapp")));
    ASSERT_TRUE(wait_ready(connector_port("instagram")));
    a_ = login("user_a", "pass_a");
  }

  static void TearDownTestSuite() {
    // Graceful stops, connectors first: they must exit cleanly (0).
    for (auto& [channel, connector] : connectors_) {
      connector->signal(SIGTERM);
      EXPECT_EQ(connector->wait(30s), 0)
          << channel << "\n"
          << chat_test::tail_of(connector->log_path());
    }
    connectors_.clear();
    platform_.reset();
    router_.reset();
    api_.reset();
    broker_.reset();
    dir_.reset();
  }

  void TearDown() override {
    heal();
    // Each test leaves both breakers closed for the next.
    for (const char* channel : {"whatsapp", "instagram"}) {
      EXPECT_TRUE(eventually(
          [&] { return breaker_state(channel, "closed") == 1; }, 30s))
          << channel << " breaker did not close";
    }
  }

  /// Starts (or restarts) a channel's connector, with waits short enough
  /// for a test: the breaker re-tries after 1 s (2 s at most).
  static void start_connector(const std::string& channel, int failures) {
    const std::string log = dir_->path() + "/connector-" + channel + "-" +
                            std::to_string(++starts_) + ".log";
    connectors_[channel] = std::make_unique<Process>(
        std::vector<std::string>{
            std::string(CHAT_BIN_DIR) + "/chat-connector",
            "--channel",
            channel,
            "--brokers",
            brokers_,
            "--port",
            "0",
            "--platform-url",
            "http://127.0.0.1:" + std::to_string(platform_port_),
            "--breaker-failures",
            std::to_string(failures),
            "--breaker-open-ms",
            "1000",
            "--breaker-max-open-ms",
            "2000",
            "--backoff-ms",
            "20",
            "--retry-later-ms",
            "200",
            "--call-timeout-ms",
            "3000"},
        log);
    connector_ports_[channel] = listening_port(log, "connector_listening");
  }

  static int connector_port(const std::string& channel) {
    return connector_ports_.at(channel);
  }

  static std::optional<chat_test::HttpResponse> call(
      const std::string& method, const std::string& target,
      const std::string& body = {}, const std::string& token = {}) {
    return chat_test::api_call(api_port_, method, target, body, token);
  }

  static User login(const std::string& name, const std::string& password) {
    return chat_test::login(api_port_, kSecret, name, password);
  }

  /// Sends a message from user_a; returns its id, or empty if not accepted.
  static std::string send(const std::string& conversation,
                          const std::string& recipient,
                          const std::string& content) {
    auto r = call("POST", "/v1/messages",
                  json{{"conversation_id", conversation},
                       {"sender_id", a_.id},
                       {"recipient_id", recipient},
                       {"content", content}}
                      .dump(),
                  a_.token);
    if (!r || r->status != 202) return {};
    return json::parse(r->body)["message_id"];
  }

  /// message_id -> the message as the API's history shows it.
  static std::map<std::string, json> history(const std::string& conversation) {
    std::map<std::string, json> out;
    for (int offset = 0;; offset += 100) {
      auto r = call("GET",
                    "/v1/conversations/" + conversation +
                        "/messages?limit=100&offset=" + std::to_string(offset),
                    {}, a_.token);
      if (!r || r->status != 200) return out;
      const json page = json::parse(r->body);
      for (const auto& m : page["messages"]) out[m["message_id"]] = m;
      if (!page["pagination"]["has_more"].get<bool>()) return out;
    }
  }

  /// Whether every message of `sent` (conversation -> ids) has `status`.
  static bool all_have_status(
      const std::map<std::string, std::vector<std::string>>& sent,
      const std::string& status) {
    for (const auto& [conversation, ids] : sent) {
      const auto messages = history(conversation);
      for (const auto& id : ids) {
        const auto it = messages.find(id);
        if (it == messages.end() || it->second["status"] != status) {
          return false;
        }
      }
    }
    return true;
  }

  static json platform(const std::string& method, const std::string& target,
                       const std::string& body = {}) {
    auto r = http_request(platform_port_, method, target, body,
                          {"Content-Type: application/json"});
    EXPECT_TRUE(r && r->status == 200) << target;
    return r ? json::parse(r->body, nullptr, false) : json();
  }

  static void faults(const json& body) {
    platform("POST", "/admin/faults", body.dump());
  }
  static void heal() { platform("DELETE", "/admin/faults"); }

  /// Message ids in the order the simulator received them.
  static std::vector<std::string> received(const std::string& conversation) {
    return platform("GET", "/admin/deliveries?conversation=" +
                               conversation)["message_ids"]
        .get<std::vector<std::string>>();
  }

  /// A sample's value from a /metrics page (0 when absent).
  static double metric(int port, const std::string& series) {
    auto r = chat_test::http_get(port, "/metrics");
    if (!r) return -1;
    std::istringstream lines(r->body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.compare(0, series.size() + 1, series + " ") == 0) {
        return std::stod(line.substr(series.size() + 1));
      }
    }
    return 0;
  }

  static double breaker_state(const std::string& channel,
                              const std::string& state) {
    return metric(connector_port(channel),
                  "vigil_circuit_breaker_state{name=\"" + channel +
                      "\",state=\"" + state + "\"}");
  }
  static double transitions(const std::string& channel, const std::string& from,
                            const std::string& to) {
    return metric(connector_port(channel),
                  "vigil_circuit_breaker_transitions_total{name=\"" + channel +
                      "\",from=\"" + from + "\",to=\"" + to + "\"}");
  }
  static double platform_requests(const std::string& channel,
                                  const std::string& outcome) {
    return metric(platform_port_, "chat_platform_requests_total{channel=\"" +
                                      channel + "\",outcome=\"" + outcome +
                                      "\"}");
  }

  static inline std::unique_ptr<chat_test::TempDir> dir_;
  static inline std::string brokers_;
  static inline std::unique_ptr<Process> broker_;
  static inline std::unique_ptr<Process> api_;
  static inline std::unique_ptr<Process> router_;
  static inline std::unique_ptr<Process> platform_;
  static inline std::map<std::string, std::unique_ptr<Process>> connectors_;
  static inline std::map<std::string, int> connector_ports_;
  static inline int api_port_ = 0;
  static inline int platform_port_ = 0;
  static inline int starts_ = 0;
  static inline User a_;
};

TEST_F(Delivery, ThreeHundredMessagesDeliveredOnceInOrderThenRead) {
  constexpr int kConversations = 10;
  constexpr int kMessages = 300;
  const json stats_before = platform("GET", "/admin/stats");
  std::map<std::string, std::vector<std::string>> sent;
  for (int i = 0; i < kMessages; ++i) {
    const int c = i % kConversations;
    const std::string conversation = "e2e-" + std::to_string(c);
    const std::string id =
        send(conversation, c % 2 == 0 ? whatsapp(c) : instagram(c),
             "message " + std::to_string(i));
    ASSERT_FALSE(id.empty()) << "message " << i << " not accepted";
    sent[conversation].push_back(id);
  }
  ASSERT_TRUE(
      eventually([&] { return all_have_status(sent, "DELIVERED"); }, 60s));
  for (const auto& [conversation, ids] : sent) {
    EXPECT_EQ(received(conversation), ids)
        << conversation << ": not exactly once, in order";
    for (const auto& [id, m] : history(conversation)) {
      EXPECT_TRUE(m.contains("delivered_at")) << id;
    }
  }
  const json stats = platform("GET", "/admin/stats");
  EXPECT_EQ(stats["duplicates_received"], stats_before["duplicates_received"])
      << "nothing should be sent twice without a crash";
  EXPECT_EQ(stats["delivered_twice"], 0);

  // READ after DELIVERED, twice: the same read_at, and DELIVERED stays.
  const std::string id = sent["e2e-1"].front();
  auto first = call("POST", "/v1/messages/" + id + "/read", {}, a_.token);
  auto second = call("POST", "/v1/messages/" + id + "/read", {}, a_.token);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(json::parse(first->body)["read_at"],
            json::parse(second->body)["read_at"]);
  const json m = history("e2e-1")[id];
  EXPECT_EQ(m["status"], "READ");
  EXPECT_TRUE(m.contains("delivered_at") && m.contains("read_at"));
  EXPECT_LE(m["delivered_at"].get<std::int64_t>(),
            m["read_at"].get<std::int64_t>());
}

TEST_F(Delivery, BreakerOpensAfterConfiguredFailuresAndClosesAfterHealing) {
  faults({{"error_rate", 1.0}});
  // One conversation per channel: its messages go out one at a time, so
  // every platform call is accounted for.
  std::map<std::string, std::vector<std::string>> sent;
  const std::map<std::string, int> failures = {{"whatsapp", 5},
                                               {"instagram", 3}};
  std::map<std::string, double> errors_before;
  for (const auto& [channel, n] : failures) {
    errors_before[channel] = platform_requests(channel, "error_injected");
  }
  for (int i = 0; i < 5; ++i) {
    sent["breaker-wa"].push_back(
        send("breaker-wa", whatsapp(99), "b" + std::to_string(i)));
    sent["breaker-ig"].push_back(
        send("breaker-ig", instagram(99), "b" + std::to_string(i)));
  }
  for (const auto& [channel, n] : failures) {
    // A consistent snapshot while OPEN: the platform saw exactly the
    // failures that tripped it plus one failed trial per half-open.
    double trials = 0;
    double errors = 0;
    ASSERT_TRUE(eventually(
        [&] {
          if (breaker_state(channel, "open") != 1) return false;
          trials = transitions(channel, "open", "half_open");
          errors = platform_requests(channel, "error_injected") -
                   errors_before[channel];
          return breaker_state(channel, "open") == 1 &&
                 transitions(channel, "open", "half_open") == trials;
        },
        30s))
        << channel << " breaker never opened";
    EXPECT_EQ(errors, n + trials) << channel;
    std::cout << "[ breaker  ] " << channel << ": opened after "
              << errors - trials << " failed calls (" << trials
              << " failed half-open trials since)\n";
    EXPECT_GE(transitions(channel, "closed", "open"), 1) << channel;
    // While open, the connector keeps trying and is refused without a call.
    const double rejected_before = metric(
        connector_port(channel), "vigil_circuit_breaker_calls_total{name=\"" +
                                     channel + "\",outcome=\"rejected\"}");
    ASSERT_TRUE(eventually(
        [&] {
          return metric(connector_port(channel),
                        "vigil_circuit_breaker_calls_total{name=\"" + channel +
                            "\",outcome=\"rejected\"}") > rejected_before;
        },
        30s));
    EXPECT_EQ(breaker_state(channel, "closed"), 0) << channel;
    // Storing and forwarding is a warning, not a failure: still ready.
    EXPECT_TRUE(eventually(
        [&] {
          auto r =
              chat_test::http_get(connector_port(channel), "/health/ready");
          return r && r->status == 200 &&
                 r->body.find("\"status\":\"warn\"") != std::string::npos;
        },
        10s))
        << channel << " health is not warn while the breaker is open";
  }
  EXPECT_TRUE(
      eventually([&] { return all_have_status(sent, "PENDING"); }, 10s));
  heal();
  ASSERT_TRUE(
      eventually([&] { return all_have_status(sent, "DELIVERED"); }, 30s));
  for (const auto& [channel, n] : failures) {
    EXPECT_TRUE(
        eventually([&] { return breaker_state(channel, "closed") == 1; }, 30s))
        << channel;
    EXPECT_GE(transitions(channel, "open", "half_open"), 1) << channel;
    EXPECT_GE(transitions(channel, "half_open", "closed"), 1) << channel;
  }
  for (const auto& [conversation, ids] : sent) {
    EXPECT_EQ(received(conversation), ids) << conversation;
  }
  // The connectors' log lines say the same, in order and with reasons:
  // what an operator reads (and the evidence demo-full records).
  for (const auto& [channel, n] : failures) {
    std::ifstream log(connectors_[channel]->log_path());
    std::vector<std::string> seen;
    for (std::string line; std::getline(log, line);) {
      if (line.find("\"event\":\"breaker_transition\"") == std::string::npos) {
        continue;
      }
      std::cout << "[ breaker  ] " << line << "\n";
      const json t = json::parse(line);
      seen.push_back(t.value("from", "") + ">" + t.value("to", "") + ":" +
                     t.value("reason", ""));
    }
    const std::vector<std::string> expected = {
        "closed>open:consecutive_failures", "open>half_open:wait_elapsed",
        "half_open>closed:trials_succeeded"};
    auto next = seen.begin();
    for (const auto& step : expected) {
      next = std::find(next, seen.end(), step);
      EXPECT_NE(next, seen.end()) << channel << ": no " << step << " in order";
    }
    ASSERT_FALSE(seen.empty()) << channel;
    EXPECT_EQ(seen.back(), expected.back()) << channel;
  }
}

TEST_F(Delivery, OutageKeepsMessagesPendingThenDeliversThemOnce) {
  faults({{"down", true}});
  std::map<std::string, std::vector<std::string>> sent;
  std::map<std::string, int> per_channel;
  // Messages keep coming for the whole outage: 4 conversations, one
  // message every 250 ms.
  const auto end = std::chrono::steady_clock::now() + kOutage;
  for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
    const int c = i % 4;
    const std::string conversation = "outage-" + std::to_string(c);
    const bool wa = c % 2 == 0;
    const std::string id = send(conversation, wa ? whatsapp(c) : instagram(c),
                                "kept " + std::to_string(i));
    ASSERT_FALSE(id.empty());
    sent[conversation].push_back(id);
    ++per_channel[wa ? "whatsapp" : "instagram"];
    std::this_thread::sleep_for(250ms);  // pacing the load, not a wait
  }
  ASSERT_TRUE(
      eventually([&] { return all_have_status(sent, "PENDING"); }, 30s));
  for (const auto& [channel, count] : per_channel) {
    EXPECT_TRUE(eventually(
        [&] {
          return metric(connector_port(channel),
                        "chat_connector_pending_messages{channel=\"" + channel +
                            "\"}") == count;
        },
        10s))
        << channel << " pending gauge";
  }
  // Not delivered, so not readable yet: 409.
  const std::string early = sent["outage-0"].front();
  auto refused = call("POST", "/v1/messages/" + early + "/read", {}, a_.token);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409) << refused->body;

  const json stats_before = platform("GET", "/admin/stats");
  heal();
  const auto healed = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      eventually([&] { return all_have_status(sent, "DELIVERED"); }, 60s));
  std::cout << "[ outage   ] platform down "
            << std::chrono::duration_cast<std::chrono::seconds>(kOutage).count()
            << " s: " << per_channel["whatsapp"] << " whatsapp and "
            << per_channel["instagram"]
            << " instagram messages PENDING (API and pending gauges); all "
               "DELIVERED "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - healed)
                   .count()
            << " ms after healing\n";
  for (const auto& [conversation, ids] : sent) {
    EXPECT_EQ(received(conversation), ids)
        << conversation << ": not exactly once, in order";
  }
  const json stats = platform("GET", "/admin/stats");
  EXPECT_EQ(stats["duplicates_received"], stats_before["duplicates_received"]);
  EXPECT_EQ(stats["delivered_twice"], 0);
  for (const auto& [channel, count] : per_channel) {
    EXPECT_TRUE(eventually(
        [&] {
          return metric(connector_port(channel),
                        "chat_connector_pending_messages{channel=\"" + channel +
                            "\"}") == 0;
        },
        10s))
        << channel;
  }
}

TEST_F(Delivery, KilledConnectorResumesWithBoundedDuplicates) {
  // Slow enough that deliveries are under way when the kill lands.
  faults({{"channel", "whatsapp"}, {"latency_ms", 100}});
  constexpr int kConversations = 10;
  constexpr int kMessages = 300;
  std::map<std::string, std::vector<std::string>> sent;
  const double delivered_before = platform_requests("whatsapp", "delivered");
  const double repeats_before = platform_requests("whatsapp", "duplicate");
  const json stats_before = platform("GET", "/admin/stats");
  for (int i = 0; i < kMessages; ++i) {
    const std::string conversation =
        "crash-" + std::to_string(i % kConversations);
    const std::string id =
        send(conversation, whatsapp(i % kConversations), std::to_string(i));
    ASSERT_FALSE(id.empty());
    sent[conversation].push_back(id);
  }
  ASSERT_TRUE(eventually(
      [&] {
        return platform_requests("whatsapp", "delivered") - delivered_before >=
               kMessages / 4;
      },
      60s));
  connectors_["whatsapp"]->signal(SIGKILL);
  ASSERT_TRUE(connectors_["whatsapp"]->wait(10s));
  const double at_kill = platform_requests("whatsapp", "delivered");
  ASSERT_LT(at_kill - delivered_before, kMessages) << "killed too late";
  start_connector("whatsapp", 5);
  ASSERT_TRUE(wait_ready(connector_port("whatsapp")));
  ASSERT_TRUE(
      eventually([&] { return all_have_status(sent, "DELIVERED"); }, 90s));
  const json stats = platform("GET", "/admin/stats");
  // Sent twice: delivered but uncommitted when the connector died, sent
  // again by the new one. At most the in-flight window, since only those
  // are sent again after a crash.
  const double received_twice =
      stats["duplicates_received"].get<double>() -
      stats_before["duplicates_received"].get<double>();
  EXPECT_LE(received_twice, kMaxInFlight);
  EXPECT_EQ(platform_requests("whatsapp", "duplicate") - repeats_before,
            received_twice);
  // Delivered twice: none, the platform keys each message by its
  // message_id (the connector's Idempotency-Key).
  const double delivered_twice = stats["delivered_twice"].get<double>() -
                                 stats_before["delivered_twice"].get<double>();
  EXPECT_EQ(delivered_twice, 0);
  EXPECT_EQ(platform_requests("whatsapp", "delivered") - delivered_before,
            kMessages)
      << "every message is delivered exactly once";
  std::cout << "[ crash    ] after kill -9: " << received_twice
            << " messages sent again (bound " << kMaxInFlight
            << "), delivered twice: " << delivered_twice << "\n";
  for (const auto& [conversation, ids] : sent) {
    EXPECT_EQ(received(conversation), ids)
        << conversation << ": not exactly once, in order";
  }
}

}  // namespace
