// docs/sdk/README.md's getting-started program: a counter served on
// http://127.0.0.1:9464/metrics. A ctest builds it against the installed
// package so the documented code keeps compiling.
#include <chrono>
#include <thread>
#include <vigil/http/endpoint.hpp>

int main() {
  vigil::Registry registry;
  vigil::Counter ticks = registry.counter("ticks_total", "Ticks.").with({});
  vigil::http::EndpointOptions options;
  options.port = 9464;  // binds 127.0.0.1 unless options.bind says otherwise
  vigil::http::Endpoint endpoint(options, registry);
  endpoint.start();
  for (;;) {
    ticks.inc();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}
