// Uses every component the package provides: a counter (vigil::vigil),
// librdkafka statistics (vigil::kafka) and the /metrics handler (vigil::http),
// then checks what a scrape would return. Exits non-zero on a mismatch so
// `conan create` fails.
#include <librdkafka/rdkafka.h>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdio>
#include <vigil/http/handler.hpp>
#include <vigil/kafka/client_stats.hpp>
#include <vigil/vigil.hpp>

int main() {
  vigil::Registry registry;
  registry.counter("test_package_events_total", "Events.").with({}).inc(3);
  vigil::kafka::ClientStats kafka_stats(registry);
  kafka_stats.update(R"({"name": "consumer-1", "replyq": 2})");

  // The handler Endpoint serves with, called directly: no socket needed.
  vigil::http::Handler handler(registry);
  boost::beast::http::request<boost::beast::http::string_body> request(
      boost::beast::http::verb::get, "/metrics", 11);
  const auto response = handler.handle(request);
  if (!response || response->result_int() != 200) return 1;
  const std::string& body = response->body();
  std::printf("vigil %s, librdkafka %s\n%s", VIGIL_VERSION_STRING,
              rd_kafka_version_str(), body.c_str());
  const bool ok =
      body.find("test_package_events_total 3") != std::string::npos &&
      body.find("kafka_client_replyq{client=\"consumer-1\"} 2") !=
          std::string::npos;
  return ok ? 0 : 1;
}
