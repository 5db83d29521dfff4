#include "service.hpp"

#include <pthread.h>

#include <memory>
#include <vigil/http/handler.hpp>
#include <vigil/http/server_metrics.hpp>

namespace chat {

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

void serve_until_signal(const std::string& name, HttpServerOptions options,
                        vigil::Registry& registry,
                        vigil::http::HealthRegistry& health,
                        std::vector<std::string> routes, RequestHandler handler,
                        const Signals& signals) {
  const std::string service = options.service;
  const vigil::LogSink log = options.log;
  vigil::http::Handler vigil_paths(registry, health);
  vigil::http::ServerMetrics http_metrics(registry, std::move(routes));
  HttpServer server(std::move(options), [&](Request&& req, Respond respond) {
    if (auto res = vigil_paths.handle(req)) return respond(std::move(*res));
    auto scope = std::make_shared<vigil::http::ServerMetrics::Scope>(
        http_metrics.track(req.method_string(), req.target()));
    handler(std::move(req),
            [scope, respond = std::move(respond)](Response res) {
              scope->set_status(res.result_int());
              respond(std::move(res));
            });
  });
  server.start();
  vigil::LogLine(log, "info", service, name + "_listening")
      .field("port", server.port())
      .emit();
  const int received = signals.wait();
  vigil::LogLine(log, "info", service, name + "_stopping")
      .field("signal", received)
      .emit();
  server.stop();
}

}  // namespace chat
