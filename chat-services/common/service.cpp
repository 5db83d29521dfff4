#include "service.hpp"

#include <stdexcept>

#include <pthread.h>

#include <memory>
#include <vigil/http/handler.hpp>
#include <vigil/http/server.hpp>
#include <vigil/http/server_metrics.hpp>

namespace chat {
namespace {

/// Records a streamed request in the HTTP metrics, however it ends.
class MeteredSink final : public BodySink {
 public:
  MeteredSink(std::unique_ptr<BodySink> inner,
              vigil::http::ServerMetrics::Scope scope)
      : inner_(std::move(inner)),
        scope_(std::make_shared<vigil::http::ServerMetrics::Scope>(
            std::move(scope))) {}

  std::optional<Response> write(std::string_view bytes) override {
    auto stop = inner_->write(bytes);
    if (stop) scope_->set_status(stop->result_int());
    return stop;
  }
  void finish(Respond respond) override {
    inner_->finish(
        [scope = scope_, respond = std::move(respond)](Response res) {
          scope->set_status(res.result_int());
          respond(std::move(res));
        });
  }
  void rejected(unsigned status) override {
    scope_->set_status(status);
    inner_->rejected(status);
  }

 private:
  std::unique_ptr<BodySink> inner_;
  std::shared_ptr<vigil::http::ServerMetrics::Scope> scope_;
};

}  // namespace

Signals::Signals(std::initializer_list<int> signals) {
  sigemptyset(&set_);
  for (int s : signals) sigaddset(&set_, s);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int Signals::wait() const {
  int received = 0;
  sigwait(&set_, &received);
  return received;
}

void serve_until_signal(
    const std::string& name, HttpServerOptions options,
    vigil::Registry& registry, vigil::http::HealthRegistry& health,
    std::vector<std::string> routes, RequestHandler handler,
    const Signals& signals,
    const std::function<void(std::uint16_t)>& on_listening,
    const vigil::http::Auth& metrics_auth) {
  const std::string service = options.service;
  const vigil::LogSink log = options.log;
  const auto drain_timeout = options.drain_timeout;
  vigil::http::HandlerOptions vigil_options;
  vigil_options.auth = metrics_auth;
  vigil::http::Handler vigil_paths(registry, health, vigil_options);
  vigil::http::ServerMetrics http_metrics(registry, std::move(routes));
  if (options.stream_route) {
    options.stream_route = [&http_metrics,
                            route = std::move(options.stream_route)](
                               const RequestHeader& header) -> StreamDecision {
      StreamDecision decision = route(header);
      if (std::holds_alternative<std::monostate>(decision)) return decision;
      auto scope = http_metrics.track(header.method_string(), header.target());
      if (auto* answer = std::get_if<Response>(&decision)) {
        scope.set_status(answer->result_int());
        return decision;
      }
      return std::make_unique<MeteredSink>(
          std::move(std::get<std::unique_ptr<BodySink>>(decision)),
          std::move(scope));
    };
  }
  // Fails readiness while draining: a load balancer still probing over a
  // kept-alive connection sends its traffic elsewhere.
  constexpr const char* kShutdownCheck = "shutdown";
  health.add_push_check(kShutdownCheck, vigil::http::Probe::kReadiness);
  options.metrics = &registry;  // the server's own metrics beside the rest
  HttpServer server(std::move(options), [&](Request&& req, Respond respond) {
    if (auto res = vigil_paths.handle(req)) {
      return respond(vigil::http::to_server_response(std::move(*res)));
    }
    auto scope = std::make_shared<vigil::http::ServerMetrics::Scope>(
        http_metrics.track(req.method_string(), req.target()));
    handler(std::move(req),
            [scope, respond = std::move(respond)](Response res) {
              scope->set_status(res.result_int());
              respond(std::move(res));
            });
  });
  server.start();
  if (on_listening) on_listening(server.port());
  vigil::LogLine(log, "info", service, name + "_listening")
      .field("port", server.port())
      .emit();
  const int received = signals.wait();
  vigil::LogLine(log, "info", service, name + "_stopping")
      .field("signal", received)
      .emit();
  health.set(kShutdownCheck, vigil::http::CheckResult::fail(
                                 "draining: finishing the requests under way"));
  vigil::LogLine(log, "info", service, name + "_draining")
      .field("in_flight", server.in_flight())
      .field("connections", server.connections())
      .field("timeout_ms", static_cast<long long>(drain_timeout.count()))
      .emit();
  const DrainReport report = server.drain();
  vigil::LogLine(log, report.cut_off > 0 ? "warn" : "info", service,
                 name + "_stopped")
      .field("cut_off", report.cut_off)
      .field("connections_cut", report.connections)
      .field("drain_ms", static_cast<long long>(report.took.count()))
      .emit();
}

vigil::http::Auth parse_metrics_auth(const std::string& value) {
  if (value.empty()) return {};
  if (value.rfind("bearer:", 0) == 0 && value.size() > 7) {
    return vigil::http::Auth::bearer(value.substr(7));
  }
  const auto colon = value.find(':', 6);
  if (value.rfind("basic:", 0) == 0 && colon != std::string::npos &&
      colon > 6) {
    return vigil::http::Auth::basic(value.substr(6, colon - 6),
                                    value.substr(colon + 1));
  }
  throw std::invalid_argument(
      "metrics auth must be bearer:<token> or basic:<user>:<password>");
}

}  // namespace chat
