#pragma once

#include <atomic>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "vigil/exposition_format.hpp"
#include "vigil/http/auth.hpp"
#include "vigil/http/detail/gzip.hpp"
#include "vigil/http/detail/negotiation.hpp"
#include "vigil/http/health.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// The response type Handler produces.
using Response = boost::beast::http::response<boost::beast::http::string_body>;

/// What vigil serves and how.
struct HandlerOptions {
  /// Path of the metrics exposition, matched exactly (query and fragment
  /// ignored).
  std::string metrics_path = "/metrics";
  /// Base of the health probes: `<health_path>`, `/live`, `/ready`,
  /// `/started` below it.
  std::string health_path = "/health";
  /// Compress /metrics when the scraper allows gzip.
  bool gzip = true;
  /// zlib level. 1 is the cheapest; exposition text is so repetitive that
  /// it still shrinks ~10x, and the scraped service's CPU matters more than
  /// a few kilobytes on the wire.
  int gzip_level = 1;
  /// Credentials required for metrics_path (and for the health probes with
  /// Auth::protect_health); empty: open.
  Auth auth;
};

namespace detail {

inline std::string_view to_std(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

/// The path of a request target: origin-form without query or fragment.
inline std::string_view target_path(std::string_view target) {
  const std::size_t end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

/// The scrape self-metrics, registered once per Registry.
struct ScrapeMetrics {
  explicit ScrapeMetrics(Registry& registry)
      : scrapes(registry.counter("vigil_scrapes_total",
                                 "Scrapes of /metrics served, by format and "
                                 "content encoding.",
                                 {"format", "encoding"})),
        bytes(registry
                  .counter("vigil_scrape_bytes_total",
                           "Bytes of /metrics bodies served, after "
                           "compression.",
                           {}, {"bytes", 0})
                  .with({})),
        duration(registry
                     .histogram("vigil_scrape_duration_seconds",
                                "Time to render (and compress) a /metrics "
                                "body.",
                                {},
                                {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05, 0.1, 0.25, 0.5, 1},
                                {"seconds", 0})
                     .with({})),
        unauthorized(registry
                         .counter("vigil_http_unauthorized_total",
                                  "Requests refused for missing or wrong "
                                  "credentials.")
                         .with({})) {}

  CounterFamily& scrapes;
  Counter bytes;
  Histogram duration;
  Counter unauthorized;
};

}  // namespace detail

/// Serves vigil's paths (/metrics and the health probes) from inside a
/// Boost.Beast server the service already runs: handle() returns the
/// response for a vigil path and std::nullopt for anything else, which the
/// service then routes itself. Endpoint uses the same handler.
///
/// /metrics picks OpenMetrics or the 0.0.4 text format from `Accept`,
/// gzips when `Accept-Encoding` allows, and counts itself
/// (vigil_scrapes_total, vigil_scrape_bytes_total,
/// vigil_scrape_duration_seconds). Rendering never blocks instrumented
/// threads (see Registry). Health probes answer `application/health+json`
/// with 200 (pass, warn) or 503 (fail). Only GET and HEAD are allowed (405
/// with `Allow` otherwise).
///
/// Thread-safety: handle() may run on any number of threads at once. The
/// registry and health registry must outlive the handler.
///
///     vigil::http::Handler vigil_paths(registry, health);
///     // in the service's request handler:
///     if (auto res = vigil_paths.handle(req)) return std::move(*res);
class Handler {
 public:
  /// Serves `registry` and, unless `health` is null, its checks (without
  /// them every probe answers pass). Registers the scrape self-metrics in
  /// `registry`.
  Handler(Registry& registry, HealthRegistry* health,
          HandlerOptions options = {})
      : registry_(registry),
        health_(health),
        options_(std::move(options)),
        metrics_(registry) {}
  /// Serves `registry` and the checks of `health`.
  Handler(Registry& registry, HealthRegistry& health,
          HandlerOptions options = {})
      : Handler(registry, &health, std::move(options)) {}
  /// Serves `registry` without health checks: every probe answers pass.
  explicit Handler(Registry& registry, HandlerOptions options = {})
      : Handler(registry, nullptr, std::move(options)) {}

  /// Whether `target` is one of vigil's paths.
  bool owns(std::string_view target) const {
    return route(detail::target_path(target)) != Route::kNone;
  }

  /// The response for a vigil path, or std::nullopt. Works with any Beast
  /// request type (any body); the body is ignored. The response is ready to
  /// write: calling prepare_payload() on it again would zero the
  /// Content-Length a HEAD response carries.
  template <class Request>
  std::optional<Response> handle(const Request& req) const {
    namespace bh = boost::beast::http;
    const Route which =
        route(detail::target_path(detail::to_std(req.target())));
    if (which == Route::kNone) {
      return std::nullopt;
    }
    Response res{bh::status::ok, req.version()};
    res.keep_alive(req.keep_alive());
    const bh::verb method = req.method();
    if (method != bh::verb::get && method != bh::verb::head) {
      res.result(bh::status::method_not_allowed);
      res.set(bh::field::allow, "GET, HEAD");
      plain(res, "method not allowed\n");
    } else if ((which == Route::kMetrics || options_.auth.protect_health) &&
               !options_.auth.allows(
                   detail::to_std(req[bh::field::authorization]))) {
      metrics_.unauthorized.inc();
      res.result(bh::status::unauthorized);
      res.set(bh::field::www_authenticate, options_.auth.challenge());
      plain(res, "unauthorized\n");
    } else if (which == Route::kMetrics) {
      serve_metrics(detail::to_std(req[bh::field::accept]),
                    detail::to_std(req[bh::field::accept_encoding]), res);
    } else {
      serve_health(which, res);
    }
    if (method == bh::verb::head) {
      // HEAD answers GET's headers, Content-Length included, with no body.
      res.content_length(res.body().size());
      res.body().clear();
    } else {
      res.prepare_payload();
    }
    return res;
  }

  /// The options given at construction.
  const HandlerOptions& options() const { return options_; }

 private:
  enum class Route { kNone, kMetrics, kHealth, kLive, kReady, kStarted };

  Route route(std::string_view path) const {
    if (path == options_.metrics_path) {
      return Route::kMetrics;
    }
    const std::string_view health = options_.health_path;
    if (path.substr(0, health.size()) != health) {
      return Route::kNone;
    }
    const std::string_view rest = path.substr(health.size());
    if (rest.empty()) {
      return Route::kHealth;
    }
    if (rest == "/live") {
      return Route::kLive;
    }
    if (rest == "/ready") {
      return Route::kReady;
    }
    if (rest == "/started") {
      return Route::kStarted;
    }
    return Route::kNone;
  }

  static void plain(Response& res, std::string_view text) {
    res.set(boost::beast::http::field::content_type,
            "text/plain; charset=utf-8");
    res.body().assign(text.data(), text.size());
  }

  void serve_metrics(std::string_view accept, std::string_view accept_encoding,
                     Response& res) const {
    namespace bh = boost::beast::http;
    const auto start = std::chrono::steady_clock::now();
    const ExpositionFormat format = detail::negotiate_format(accept);
    std::string& body = res.body();
    body.reserve(size_hint_.load(std::memory_order_relaxed));
    registry_.write(body, format);
    size_hint_.store(body.size(), std::memory_order_relaxed);
    const bool gzip = options_.gzip && detail::accepts_gzip(accept_encoding);
    if (gzip) {
      std::string compressed;
      detail::gzip_compress(body, compressed, options_.gzip_level);
      body.swap(compressed);
      res.set(bh::field::content_encoding, "gzip");
    }
    const std::string_view type = content_type(format);
    res.set(bh::field::content_type,
            boost::beast::string_view(type.data(), type.size()));
    res.set(bh::field::vary, "Accept, Accept-Encoding");
    res.set(bh::field::cache_control, "no-store");
    metrics_.scrapes
        .with(
            {format == ExpositionFormat::kOpenMetrics ? "openmetrics" : "text",
             gzip ? "gzip" : "identity"})
        .inc();
    metrics_.bytes.inc(static_cast<double>(body.size()));
    metrics_.duration.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }

  void serve_health(Route which, Response& res) const {
    namespace bh = boost::beast::http;
    HealthReport report;
    if (health_ != nullptr) {
      switch (which) {
        case Route::kLive:
          report = health_->report(Probe::kLiveness);
          break;
        case Route::kReady:
          report = health_->report(Probe::kReadiness);
          break;
        case Route::kStarted:
          report = health_->report(Probe::kStartup);
          break;
        default:
          report = health_->report();
          break;
      }
    }
    res.result(report.http_status());
    res.set(bh::field::content_type, "application/health+json");
    res.set(bh::field::cache_control, "no-store");
    res.body() = report.to_json(health_ ? health_->options() : HealthOptions{});
  }

  Registry& registry_;
  HealthRegistry* health_;
  const HandlerOptions options_;
  mutable detail::ScrapeMetrics metrics_;
  /// The last body's size, so the next render allocates once.
  mutable std::atomic<std::size_t> size_hint_{0};
};

}  // namespace http
VIGIL_NAMESPACE_END
