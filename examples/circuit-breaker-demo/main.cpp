// A circuit breaker guarding calls to a flaky "CRM", served on loopback:
// after 5 consecutive failures it opens, rejects calls without touching the
// CRM, half-opens after the wait, and closes once the trial calls succeed.
// Each step prints the breaker's series as its own /metrics endpoint serves
// them, and the readiness probe (OPEN only warns). Transitions are logged as
// one JSON line each, as the services do.
//
//   vigil_circuit_breaker_demo [--port N] [--open-wait-ms N]
//                              [--serve-seconds N]
//
// --serve-seconds keeps serving at the end so you can curl the endpoint.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vigil/circuit_breaker.hpp>
#include <vigil/http/endpoint.hpp>
#include <vigil/http/health.hpp>
#include <vigil/registry.hpp>

namespace {

namespace http = boost::beast::http;

struct Response {
  unsigned status;
  std::string body;
};

Response get(std::uint16_t port, const std::string& path) {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  boost::asio::ip::tcp::resolver resolver(io);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::empty_body> request(http::verb::get, path, 11);
  request.set(http::field::host, "127.0.0.1");
  http::write(stream, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {response.result_int(), response.body()};
}

void show(std::uint16_t port) {
  std::istringstream metrics(get(port, "/metrics").body);
  for (std::string line; std::getline(metrics, line);) {
    if (line.rfind("vigil_circuit_breaker_", 0) == 0 &&
        line.find("} 0") == std::string::npos) {
      std::cout << "    " << line << "\n";
    }
  }
  const Response ready = get(port, "/health/ready");
  const auto at = ready.body.find("\"status\":\"");
  std::cout << "    GET /health/ready -> " << ready.status << " ("
            << (at == std::string::npos ? "?" : ready.body.substr(at + 10, 4))
            << ")\n";
}

// The dependency: fails while down.
struct Crm {
  bool up = false;
  int calls = 0;
  std::string send(const std::string& message) {
    ++calls;
    if (!up) throw std::runtime_error("crm: 503 Service Unavailable");
    return "sent " + message;
  }
};

int option(int argc, char** argv, const std::string& name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const auto open_wait =
      std::chrono::milliseconds(option(argc, argv, "--open-wait-ms", 2000));

  vigil::Registry registry;
  vigil::http::HealthRegistry health(registry);
  health.add_push_check("crm_breaker", vigil::http::Probe::kReadiness);

  vigil::CircuitBreakerOptions options;
  options.open_wait = open_wait;
  options.half_open_trial_calls = 2;
  vigil::CircuitBreaker breaker("crm", registry, options);
  breaker.add_listener([&](const vigil::CircuitTransition& t) {
    std::printf(
        "{\"event\":\"circuit_breaker_transition\",\"breaker\":\"%.*s\","
        "\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%.*s\",\"open_wait_s\":%g}"
        "\n",
        static_cast<int>(t.breaker.size()), t.breaker.data(),
        vigil::to_string(t.from), vigil::to_string(t.to),
        static_cast<int>(t.reason.size()), t.reason.data(),
        std::chrono::duration<double>(t.open_wait).count());
    std::fflush(stdout);
    // OPEN warns, never fails: the service is alive, storing and forwarding.
    const std::string why = std::string("breaker ") + vigil::to_string(t.to);
    switch (vigil::health_verdict(t.to)) {
      case vigil::HealthVerdict::kPass:
        health.set("crm_breaker", vigil::http::CheckResult::pass());
        break;
      case vigil::HealthVerdict::kWarn:
        health.set("crm_breaker", vigil::http::CheckResult::warn(why));
        break;
      case vigil::HealthVerdict::kFail:
        health.set("crm_breaker", vigil::http::CheckResult::fail(why));
        break;
    }
  });

  vigil::http::EndpointOptions endpoint_options;
  endpoint_options.port =
      static_cast<std::uint16_t>(option(argc, argv, "--port", 0));
  vigil::http::Endpoint endpoint(endpoint_options, registry, health);
  endpoint.start();
  const std::uint16_t port = endpoint.port();
  std::cout << "serving http://127.0.0.1:" << port << "/metrics\n";

  Crm crm;
  auto attempt = [&](const std::string& message) {
    try {
      const std::string reply = breaker.call([&] { return crm.send(message); });
      std::cout << "  " << message << ": " << reply << "\n";
    } catch (const vigil::CircuitOpenError& e) {
      std::cout << "  " << message << ": rejected (" << e.what() << ")\n";
    } catch (const std::exception& e) {
      std::cout << "  " << message << ": failed (" << e.what() << ")\n";
    }
  };

  std::cout << "\n1. The CRM is down: five calls fail in a row.\n";
  for (int i = 1; i <= 5; ++i) attempt("message " + std::to_string(i));
  std::cout << "  state: " << vigil::to_string(breaker.state()) << "\n";
  show(port);

  std::cout << "\n2. Open: calls are rejected without reaching the CRM.\n";
  const int before = crm.calls;
  for (int i = 6; i <= 8; ++i) attempt("message " + std::to_string(i));
  std::cout << "  CRM calls while open: " << crm.calls - before << "\n";
  show(port);

  std::cout << "\n3. The CRM recovers; after the open wait the next call is a "
               "trial.\n";
  crm.up = true;
  std::this_thread::sleep_for(open_wait);  // a demo may wait; tests never do
  attempt("message 9");
  std::cout << "  state: " << vigil::to_string(breaker.state()) << "\n";
  show(port);

  std::cout << "\n4. The second trial succeeds: closed again.\n";
  attempt("message 10");
  std::cout << "  state: " << vigil::to_string(breaker.state()) << "\n";
  show(port);

  const int serve = option(argc, argv, "--serve-seconds", 0);
  if (serve > 0) {
    std::cout << "\nserving for " << serve
              << " s: curl -s http://127.0.0.1:" << port
              << "/metrics | grep circuit_breaker\n";
    std::this_thread::sleep_for(std::chrono::seconds(serve));
  }
  return breaker.state() == vigil::CircuitState::kClosed ? 0 : 1;
}
