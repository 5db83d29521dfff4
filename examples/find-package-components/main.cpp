// Uses every vigil component the way a service does: a counter (vigil::vigil),
// librdkafka's statistics (vigil::kafka) and the /metrics endpoint
// (vigil::http) on a free loopback port. It then scrapes itself once and
// prints the HTTP response, so the consumer tests see what Prometheus would.
#include <librdkafka/rdkafka.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vigil/http/endpoint.hpp>
#include <vigil/kafka/client_stats.hpp>
#include <vigil/vigil.hpp>

namespace {

// One GET with "Connection: close", read until the server closes: a plain
// socket is enough here and keeps Beast's client out of the build.
std::string get(std::uint16_t port, const std::string& path) {
  namespace net = boost::asio;
  net::io_context io;
  net::ip::tcp::socket socket(io);
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  const std::string request = "GET " + path +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n";
  net::write(socket, net::buffer(request));
  std::string response;
  boost::system::error_code ec;  // EOF ends the read, as intended
  net::read(socket, net::dynamic_buffer(response), ec);
  return response;
}

}  // namespace

int main() {
  vigil::Registry registry;
  auto events =
      registry.counter("consumer_events_total", "Events seen.").with({});
  for (int i = 0; i < 3; ++i) events.inc();

  // What librdkafka hands its statistics callback, cut to two fields.
  vigil::kafka::ClientStats kafka_stats(registry);
  kafka_stats.update(R"({"name": "consumer-1", "replyq": 2})");

  vigil::http::EndpointOptions options;
  options.port = 0;  // any free port: tests run in parallel
  vigil::http::Endpoint endpoint(options, registry);
  endpoint.start();

  std::printf("librdkafka %s\n", rd_kafka_version_str());
  std::fputs(get(endpoint.port(), "/metrics").c_str(), stdout);
}
