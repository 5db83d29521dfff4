#pragma once
// What every chat binary does around its work: block termination signals
// before any thread starts (so they all inherit the mask) and wait for one.

#include <csignal>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>
#include <vigil/http/auth.hpp>
#include <vigil/http/health.hpp>
#include <vigil/log.hpp>
#include <vigil/registry.hpp>

#include "http_server.hpp"

namespace chat {

/// Thread-safety: construct on the main thread before starting others.
class Signals {
 public:
  /// Blocks `signals` in this thread and every thread it starts later.
  explicit Signals(std::initializer_list<int> signals = {SIGINT, SIGTERM});
  /// Waits for one of the signals and returns it.
  int wait() const;

 private:
  sigset_t set_;
};

/// Runs a service's body; an exception escaping it becomes one `fatal` log
/// line and exit code 1 instead of an abort.
template <class Body>
int run_service(const char* service, const vigil::LogSink& log, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    vigil::LogLine(log, "error", service, "fatal")
        .field("error", e.what())
        .emit();
    return 1;
  }
}

/// Serves `handler` with vigil's /metrics and /health* mounted on the same
/// port and `http_requests_*` metrics by route template, until one of
/// `signals` arrives, then drains (HttpServer::drain(): requests under way
/// are answered, within options.drain_timeout) and returns. Adds the
/// readiness check `shutdown` to `health`, failing from the signal on. Logs
/// `<name>_listening` (with the port, which tests and scripts/stack.sh
/// read), `<name>_stopping` (the signal), `<name>_draining` (requests in
/// flight, connections) and `<name>_stopped` (requests cut off at the
/// deadline: normally 0). `metrics_auth` protects /metrics (health probes
/// stay open for supervisors and kubelets). `on_listening` learns the port once bound (it may
/// differ from options.port when that is 0).
void serve_until_signal(
    const std::string& name, HttpServerOptions options,
    vigil::Registry& registry, vigil::http::HealthRegistry& health,
    std::vector<std::string> routes, RequestHandler handler,
    const Signals& signals,
    const std::function<void(std::uint16_t)>& on_listening = {},
    const vigil::http::Auth& metrics_auth = {});

/// Credentials for /metrics from a flag's value: empty (open),
/// `bearer:<token>` or `basic:<user>:<password>`. Throws
/// std::invalid_argument for anything else.
vigil::http::Auth parse_metrics_auth(const std::string& value);

}  // namespace chat
