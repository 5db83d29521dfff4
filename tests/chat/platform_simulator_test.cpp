#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <string>

#include "simulator.hpp"

namespace {

using nlohmann::json;
namespace bhttp = boost::beast::http;

class Simulator : public ::testing::Test {
 protected:
  Simulator() : sim_(options(), registry_) {}

  static chat::SimulatorOptions options() {
    chat::SimulatorOptions o;
    o.whatsapp = {0, 0, 0, false};
    o.instagram = {20, 20, 0, false};
    o.seed = 42;
    return o;
  }

  /// The answer to one request; fails the test if none comes in 5 s.
  chat::Response call(bhttp::verb method, const std::string& target,
                      const std::string& body = {},
                      const std::string& idempotency_key = {}) {
    chat::Request req{method, target, 11};
    if (!idempotency_key.empty()) req.set("Idempotency-Key", idempotency_key);
    req.body() = body;
    req.prepare_payload();
    auto answer = std::make_shared<std::promise<chat::Response>>();
    auto future = answer->get_future();
    sim_.handle(std::move(req), [answer](chat::Response res) {
      answer->set_value(std::move(res));
    });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(5)),
              std::future_status::ready);
    return future.get();
  }

  chat::Response send(const std::string& channel, const std::string& id,
                      const std::string& conversation = "c",
                      const std::string& idempotency_key = {}) {
    return call(
        bhttp::verb::post, "/" + channel + "/v1/messages",
        json{{"message_id", id}, {"conversation_id", conversation}}.dump(),
        idempotency_key);
  }

  bool scraped(const std::string& sample) {
    return registry_.scrape().find(sample + "\n") != std::string::npos;
  }

  json stats() {
    return json::parse(call(bhttp::verb::get, "/admin/stats").body());
  }

  vigil::Registry registry_;
  chat::PlatformSimulator sim_;
};

TEST_F(Simulator, DeliversOnceAndAnswersARepeatedMessageIdAsTheFirstTime) {
  const auto first = send("whatsapp", "m1");
  EXPECT_EQ(first.result_int(), 200);
  EXPECT_EQ(json::parse(first.body())["id"], "wamid.1");
  EXPECT_EQ(json::parse(send("instagram", "m2").body())["id"], "ig.1");
  // Sent again (no header: the body's message_id is the key): the same
  // answer, received twice, delivered once.
  const auto again = send("whatsapp", "m1");
  EXPECT_EQ(again.result_int(), 200);
  EXPECT_EQ(again.body(), first.body());
  const json s = stats();
  EXPECT_EQ(s["deliveries"], 2);
  EXPECT_EQ(s["unique_messages"], 2);
  EXPECT_EQ(s["duplicates_received"], 1);
  EXPECT_EQ(s["delivered_twice"], 0);
  const json order = json::parse(
      call(bhttp::verb::get, "/admin/deliveries?conversation=c").body());
  EXPECT_EQ(order["message_ids"], (json{"m1", "m2"}));
  EXPECT_TRUE(scraped(
      "chat_platform_duplicates_received_total{channel=\"whatsapp\"} 1"));
  EXPECT_TRUE(scraped(
      "chat_platform_duplicate_deliveries_total{channel=\"whatsapp\"} 0"));
  EXPECT_TRUE(
      scraped("chat_platform_requests_total{channel=\"whatsapp\",outcome="
              "\"delivered\"} "
              "1"));
  EXPECT_TRUE(
      scraped("chat_platform_requests_total{channel=\"whatsapp\",outcome="
              "\"duplicate\"} "
              "1"));
}

TEST_F(Simulator, IdempotencyKeyHeaderIsTheKeyPerChannel) {
  const auto first = send("whatsapp", "m1", "c", "key-1");
  ASSERT_EQ(first.result_int(), 200);
  EXPECT_EQ(send("whatsapp", "m1", "c", "key-1").body(), first.body());
  // Each platform keeps its own keys.
  EXPECT_EQ(json::parse(send("instagram", "m1", "c", "key-1").body())["id"],
            "ig.1");
  // The key of another message is refused, not answered with its id.
  EXPECT_EQ(send("whatsapp", "m9", "c", "key-1").result_int(), 422);
  // A client that does not key by message_id gets it delivered twice, and
  // delivered_twice says so.
  EXPECT_EQ(json::parse(send("whatsapp", "m1", "c", "key-2").body())["id"],
            "wamid.2");
  const json s = stats();
  EXPECT_EQ(s["deliveries"], 3);
  EXPECT_EQ(s["duplicates_received"], 1);
  EXPECT_EQ(s["delivered_twice"], 1);
  EXPECT_TRUE(scraped(
      "chat_platform_duplicate_deliveries_total{channel=\"whatsapp\"} 1"));
  EXPECT_EQ(call(bhttp::verb::post, "/whatsapp/v1/messages",
                 R"({"message_id":"m3"})", std::string(256, 'k'))
                .result_int(),
            400);
}

TEST_F(Simulator, InjectedErrorsAndOutagesDeliverNothingUntilHealed) {
  EXPECT_EQ(call(bhttp::verb::post, "/admin/faults",
                 R"({"channel":"whatsapp","error_rate":1.0})")
                .result_int(),
            200);
  EXPECT_EQ(send("whatsapp", "m1").result_int(), 500);
  EXPECT_EQ(send("instagram", "m2").result_int(), 200);  // other channel fine
  call(bhttp::verb::post, "/admin/faults",
       R"({"channel":"instagram","down":true})");
  EXPECT_EQ(send("instagram", "m3").result_int(), 0);  // drop_connection()
  call(bhttp::verb::delete_, "/admin/faults");
  EXPECT_EQ(send("whatsapp", "m1").result_int(), 200);
  const json s = stats();
  EXPECT_EQ(s["errors_injected"], 1);
  EXPECT_EQ(s["resets_injected"], 1);
  EXPECT_EQ(s["deliveries"], 2);
  // m1's failed attempt delivered nothing: its retry is no duplicate.
  EXPECT_EQ(s["duplicates_received"], 0);
}

TEST_F(Simulator, LatencyIsAddedWithoutBlockingTheCaller) {
  call(bhttp::verb::post, "/admin/faults", R"({"latency_ms":150})");
  const auto started = std::chrono::steady_clock::now();
  chat::Request req{bhttp::verb::post, "/whatsapp/v1/messages", 11};
  req.body() = R"({"message_id":"slow"})";
  std::promise<int> answered;
  sim_.handle(std::move(req), [&](chat::Response res) {
    answered.set_value(res.result_int());
  });
  // handle() returned before the answer: the HTTP thread is free meanwhile.
  auto future = answered.get_future();
  EXPECT_EQ(future.wait_for(std::chrono::milliseconds(0)),
            std::future_status::timeout);
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  EXPECT_EQ(future.get(), 200);
  EXPECT_GE(std::chrono::steady_clock::now() - started,
            std::chrono::milliseconds(150));
}

TEST_F(Simulator, BadRequestsAreRefused) {
  EXPECT_EQ(
      call(bhttp::verb::post, "/whatsapp/v1/messages", "nope").result_int(),
      400);
  EXPECT_EQ(call(bhttp::verb::get, "/whatsapp/v1/messages").result_int(), 405);
  EXPECT_EQ(call(bhttp::verb::get, "/elsewhere").result_int(), 404);
  for (const char* bad :
       {R"({"error_rate":1.5})", R"({"down":"yes"})", R"({"channel":"sms"})",
        R"({"latency_ms":-1})", "[]"}) {
    EXPECT_EQ(call(bhttp::verb::post, "/admin/faults", bad).result_int(), 400)
        << bad;
  }
  EXPECT_EQ(call(bhttp::verb::get, "/admin/deliveries").result_int(), 400);
}

}  // namespace
