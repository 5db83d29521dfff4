// A service-like loop instrumented with vigil: request counts by route and
// status, a latency histogram, a queue-depth gauge and process metrics,
// served on loopback by vigil::http::Endpoint for Prometheus to scrape.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vigil/http/endpoint.hpp>
#include <vigil/vigil.hpp>

namespace {

std::atomic<bool> stop{false};

void on_signal(int) { stop = true; }

int parse_port(int argc, char** argv) {
  int port = 9464;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--help") == 0) {
      std::printf("usage: %s [--port N]   (default 9464, 127.0.0.1 only)\n",
                  argv[0]);
      std::exit(0);
    } else {
      std::fprintf(stderr, "unknown argument '%s' (try --help)\n", argv[i]);
      std::exit(2);
    }
  }
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "--port must be in 1..65535\n");
    std::exit(2);
  }
  return port;
}

}  // namespace

int main(int argc, char** argv) {
  const int port = parse_port(argc, argv);
  auto registry = std::make_shared<vigil::Registry>();
  registry->include(std::make_shared<vigil::ProcessCollector>());

  auto& requests = registry->counter("demo_requests_total",
                                     "Requests handled, by route and status.",
                                     {"route", "status"});
  auto& latency = registry->histogram(
      "demo_request_duration_seconds", "Request latency.", {"route"},
      vigil::buckets::latency_seconds(), {"seconds", 0});
  vigil::Gauge queue =
      registry->gauge("demo_queue_depth", "Requests waiting.").with({});

  vigil::http::EndpointOptions options;
  options.port = static_cast<std::uint16_t>(port);
  options.service = "vigil-metrics-demo";
  options.log = vigil::stderr_log_sink();
  vigil::http::Endpoint endpoint(options, *registry);
  endpoint.start();
  const std::string address = "127.0.0.1:" + std::to_string(endpoint.port());
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::printf("vigil metrics demo: scrape http://%s/metrics (Ctrl-C stops)\n",
              address.c_str());
  std::fflush(stdout);

  const char* routes[] = {"/v1/messages", "/v1/conversations/{id}/messages"};
  std::mt19937 rng(42);
  std::exponential_distribution<double> service_time(1 / 0.040);
  std::uniform_int_distribution<int> pick(0, 99);
  while (!stop) {
    for (const char* route : routes) {
      const double seconds = service_time(rng);
      latency.with({route}).observe(seconds);
      requests.with({route, pick(rng) < 2 ? "500" : "200"}).inc();
    }
    queue.set(pick(rng) % 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("vigil metrics demo: stopped\n");
}
