// Registers a counter, a histogram and a health check and serves them on
// 127.0.0.1 (see README.md). Usage: vigil_hello_endpoint [--port N] (0 = any).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vigil/http/all.hpp>
#include <vigil/vigil.hpp>

int main(int argc, char** argv) {
  vigil::http::EndpointOptions options;
  options.port = 8082;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) {
    options.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  }
  options.log = vigil::stderr_log_sink();
  // Signals are handled by sigtimedwait below, never by the server threads.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  vigil::Registry registry;
  auto hellos =
      registry.counter("hello_greetings_total", "Greetings.").with({});
  auto work =
      registry.histogram("hello_work_seconds", "Work per greeting.").with({});
  vigil::http::HealthRegistry health(registry);
  health.add_check("clock", {}, [] {
    return std::time(nullptr) > 0 ? vigil::http::CheckResult::pass()
                                  : vigil::http::CheckResult::fail("no clock");
  });
  vigil::http::Endpoint endpoint(options, registry, health);
  endpoint.start();
  std::printf("http://127.0.0.1:%u/metrics\n", unsigned{endpoint.port()});
  std::fflush(stdout);

  const timespec tick{0, 100 * 1000 * 1000};  // one greeting per 100 ms
  while (sigtimedwait(&stop, nullptr, &tick) < 0) {
    hellos.inc();
    work.observe(0.042);
  }
}
