// The connector's platform client against the simulator in process: it
// sends the message_id as the idempotency key, so a repeat is answered as
// the first time. And what it keeps of a platform's error body for logs and
// dead letters: cut on a character boundary, never invalid UTF-8.
#include "platform_client.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include <vigil/http/server.hpp>

#include "http_server.hpp"
#include "simulator.hpp"
#include "validation.hpp"

namespace {

using chat::printable_excerpt;
using nlohmann::json;

TEST(PrintableExcerpt, KeepsShortValidTextAsItIs) {
  EXPECT_EQ(printable_excerpt("", 10), "");
  EXPECT_EQ(printable_excerpt("bad request", 200), "bad request");
  EXPECT_EQ(printable_excerpt("ação 🚀", 200), "ação 🚀");
  EXPECT_EQ(printable_excerpt("exactly 10", 10), "exactly 10");
}

TEST(PrintableExcerpt, CutsOnACharacterBoundary) {
  EXPECT_EQ(printable_excerpt("0123456789abc", 10), "0123456789...");
  // "é" is 2 bytes: a 5-byte budget holds two of them, not two and a half.
  EXPECT_EQ(printable_excerpt("ééé", 5), "éé...");
  // "€" is 3 bytes, "🚀" 4: every cut point inside one moves before it.
  for (std::size_t max = 0; max < 7; ++max) {
    const std::string out = printable_excerpt("a€🚀", max);
    EXPECT_TRUE(chat::valid_utf8(out)) << max;
  }
  EXPECT_EQ(printable_excerpt("a€🚀", 3), "a...");
  EXPECT_EQ(printable_excerpt("a€🚀", 4), "a€...");
  EXPECT_EQ(printable_excerpt("a€🚀", 7), "a€...");
  EXPECT_EQ(printable_excerpt("a€🚀", 8), "a€🚀");
}

TEST(PrintableExcerpt, ReplacesWhatIsNotUtf8) {
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(printable_excerpt("a\xFF"
                              "b",
                              20),
            "a" + replacement + "b");
  // A sequence cut short by the platform (or by its own truncation).
  EXPECT_EQ(printable_excerpt("ok\xE2\x82", 20),
            "ok" + replacement + replacement);
  // Overlong "/", a surrogate, past U+10FFFF, a lone continuation byte.
  for (const std::string bad :
       {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80"}) {
    const std::string out = printable_excerpt(bad, 100);
    EXPECT_TRUE(chat::valid_utf8(out));
    EXPECT_NE(out.find(replacement), std::string::npos);
    EXPECT_EQ(out.find(bad), std::string::npos);
  }
}

TEST(PrintableExcerpt, AnyBytesGiveBoundedValidUtf8) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> size(0, 64);
  for (int i = 0; i < 20000; ++i) {
    std::string text(size(rng), '\0');
    for (char& c : text) {
      // Mostly high bytes, where the multi-byte cases are.
      c = static_cast<char>(i % 2 ? byte(rng) : 0x80 + byte(rng) / 2);
    }
    const std::size_t max = size(rng);
    const std::string out = printable_excerpt(text, max);
    ASSERT_TRUE(chat::valid_utf8(out)) << i;
    ASSERT_LE(out.size(), max + 3) << i;
    if (chat::valid_utf8(text) && text.size() <= max) {
      ASSERT_EQ(out, text);
    }
  }
}

// The client against the simulator behind a real HTTP server: the second
// post of a message_id gets the first answer, and the platform counts it as
// received twice, delivered once.
TEST(PlatformClient, SendsTheIdempotencyKeyAndARepeatGetsTheFirstAnswer) {
  vigil::Registry registry;
  chat::SimulatorOptions options;
  options.whatsapp = {0, 0, 0, false};
  chat::PlatformSimulator simulator(options, registry);
  chat::HttpServerOptions server_options;
  server_options.log = [](std::string_view) {};
  chat::HttpServer server(
      server_options, [&](chat::Request&& req, chat::Respond respond) {
        simulator.handle(std::move(req), std::move(respond));
      });
  server.start();
  chat::PlatformClient client(
      "http://127.0.0.1:" + std::to_string(server.port()),
      std::chrono::seconds(5));
  // The body says m1, the header another key: the header is what counts.
  const std::string body = json{{"message_id", "m1"}}.dump();
  const auto first = client.post("/whatsapp/v1/messages", body, "key-m1");
  ASSERT_EQ(first.status, 200u) << first.body;
  const auto again = client.post("/whatsapp/v1/messages", body, "key-m1");
  EXPECT_EQ(again.status, 200u);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(client
                .post("/whatsapp/v1/messages",
                      json{{"message_id", "m2"}}.dump(), "key-m1")
                .status,
            422u)
      << "the header was not sent: the simulator keyed by the body";
  const std::string page = registry.scrape();
  EXPECT_NE(page.find("chat_platform_duplicates_received_total{channel="
                      "\"whatsapp\"} 1\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("chat_platform_duplicate_deliveries_total{channel="
                      "\"whatsapp\"} 0\n"),
            std::string::npos);
  server.stop();
}

}  // namespace
