#pragma once

#include <charconv>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "vigil/buckets.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// The route label of requests whose path matches no template: unknown
/// paths (scanners, typos) all share it, so they cannot blow up cardinality.
inline constexpr std::string_view kUnmatchedRoute = "__unmatched__";

/// Maps request paths to route templates such as
/// `/v1/conversations/{id}/messages`, where a `{name}` segment matches any
/// one non-empty segment. A literal segment beats a parameter, so
/// `/v1/users/me` wins over `/v1/users/{id}` whatever the order.
///
/// Thread-safety: immutable after construction; match() may run
/// concurrently.
///
///     vigil::http::RouteTemplates routes({"/v1/messages",
///                                         "/v1/conversations/{id}/messages"});
///     routes.match("/v1/conversations/42/messages?limit=5");
///     // -> "/v1/conversations/{id}/messages"
class RouteTemplates {
 public:
  /// Throws std::invalid_argument for a template not starting with '/'.
  explicit RouteTemplates(std::vector<std::string> templates) {
    for (std::string& text : templates) {
      if (text.empty() || text[0] != '/') {
        throw std::invalid_argument("vigil: route template '" + text +
                                    "' must start with '/'");
      }
      Template parsed;
      parsed.text = std::move(text);
      std::size_t pos = 1;  // past a '/'
      while (pos <= parsed.text.size()) {
        std::size_t end = parsed.text.find('/', pos);
        if (end == std::string::npos) {
          end = parsed.text.size();
        }
        const bool parameter = end - pos >= 2 && parsed.text[pos] == '{' &&
                               parsed.text[end - 1] == '}';
        parsed.segments.push_back({pos, end - pos, parameter});
        pos = end + 1;
      }
      templates_.push_back(std::move(parsed));
    }
  }

  /// The template matching `target` (query and fragment ignored), or
  /// kUnmatchedRoute. The returned view lives as long as this object.
  std::string_view match(std::string_view target) const {
    const std::size_t end = target.find_first_of("?#");
    const std::string_view path = target.substr(0, end);
    const Template* best = nullptr;
    std::size_t best_literals = 0;
    for (const Template& t : templates_) {
      std::size_t literals = 0;
      if (matches(t, path, literals) &&
          (best == nullptr || literals > best_literals)) {
        best = &t;
        best_literals = literals;
      }
    }
    return best ? std::string_view(best->text) : kUnmatchedRoute;
  }

 private:
  // Offsets, not views: a view into `text` would dangle when the
  // Template moves (short strings live inline).
  struct Segment {
    std::size_t pos;
    std::size_t size;
    bool parameter;
  };
  struct Template {
    std::string text;
    std::vector<Segment> segments;
  };

  static bool matches(const Template& t, std::string_view path,
                      std::size_t& literals) {
    if (path.empty() || path[0] != '/') {
      return false;
    }
    std::size_t i = 0;
    while (!path.empty()) {
      path.remove_prefix(1);
      const std::size_t end = path.find('/');
      const std::string_view segment = path.substr(0, end);
      path.remove_prefix(end == std::string_view::npos ? path.size() : end);
      if (i == t.segments.size()) {
        return false;
      }
      const Segment& expected = t.segments[i++];
      if (expected.parameter) {
        if (segment.empty()) {
          return false;
        }
      } else if (segment !=
                 std::string_view(t.text).substr(expected.pos, expected.size)) {
        return false;
      } else {
        ++literals;
      }
    }
    return i == t.segments.size();
  }

  std::vector<Template> templates_;
};

/// HTTP server instrumentation for a service's own routes:
/// `http_requests_total{method,route,status}`,
/// `http_request_duration_seconds{method,route}` and
/// `http_requests_in_flight`. Label values are route templates, never raw
/// paths, and methods outside the standard ones count as `OTHER`, so
/// cardinality stays bounded whatever clients send.
///
/// Thread-safety: track() and the returned scopes may be used from any
/// thread at once.
///
///     vigil::http::ServerMetrics http_metrics(
///         registry, {"/v1/messages", "/v1/conversations/{id}/messages"});
///     // per request:
///     auto scope = http_metrics.track(req.method_string(), req.target());
///     ... build the response ...
///     scope.set_status(res.result_int());
class ServerMetrics {
 public:
  /// Records one request when destroyed, with the status given to
  /// set_status(); a scope that never got one (the handler threw) records
  /// 500.
  class Scope {
   public:
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    /// Takes over the request; `other` then records nothing.
    Scope(Scope&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)),
          method_(other.method_),
          route_(other.route_),
          start_(other.start_),
          status_(other.status_) {}
    Scope& operator=(Scope&&) = delete;
    ~Scope() {
      if (owner_ != nullptr) {
        owner_->finish(method_, route_, start_, status_);
      }
    }

    /// The response's HTTP status code, e.g. `res.result_int()`; the last
    /// call wins. Codes above 999 are recorded as "0".
    void set_status(unsigned status) { status_ = status; }
    /// The route label this request counts under.
    std::string_view route() const { return route_; }

   private:
    friend class ServerMetrics;
    Scope(ServerMetrics* owner, std::string_view method, std::string_view route)
        : owner_(owner),
          method_(method),
          route_(route),
          start_(std::chrono::steady_clock::now()) {}

    ServerMetrics* owner_;
    std::string_view method_;
    std::string_view route_;
    std::chrono::steady_clock::time_point start_;
    unsigned status_ = 500;
  };

  /// Registers the three families in `registry`, which must outlive this
  /// object. `bounds` are the duration histogram's bucket bounds, in
  /// seconds. Throws std::invalid_argument for a template not starting with
  /// '/'.
  ServerMetrics(Registry& registry, std::vector<std::string> route_templates,
                std::vector<double> bounds = buckets::latency_seconds())
      : routes_(std::move(route_templates)),
        requests_(registry.counter("http_requests_total",
                                   "HTTP requests served, by method, route "
                                   "template and status.",
                                   {"method", "route", "status"})),
        duration_(registry.histogram(
            "http_request_duration_seconds",
            "HTTP request latency, by method and route template.",
            {"method", "route"}, std::move(bounds), {"seconds", 0})),
        in_flight_(
            registry
                .gauge("http_requests_in_flight", "HTTP requests being served.")
                .with({})) {}
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  /// Starts timing a request. `method` and `target` may be Beast's
  /// string_view or anything with data() and size().
  template <class Method, class Target>
  Scope track(const Method& method, const Target& target) {
    in_flight_.inc();
    return Scope(this, normalize_method(view(method)),
                 routes_.match(view(target)));
  }

  /// The templates request targets are matched against.
  const RouteTemplates& routes() const { return routes_; }

  /// `text` as a std::string_view, for anything convertible to one or with
  /// data() and size() (e.g. boost::string_view). The view aliases `text`.
  template <class Text>
  static std::string_view view(const Text& text) {
    if constexpr (std::is_convertible_v<const Text&, std::string_view>) {
      return text;
    } else {
      return {text.data(), text.size()};  // e.g. boost::string_view
    }
  }

  /// The method label: the standard methods as they are, anything else
  /// `OTHER`.
  static std::string_view normalize_method(std::string_view method) {
    static constexpr std::string_view kMethods[] = {
        "GET",   "HEAD",    "POST",    "PUT",  "DELETE",
        "PATCH", "OPTIONS", "CONNECT", "TRACE"};
    for (const std::string_view known : kMethods) {
      if (method == known) {
        return known;
      }
    }
    return "OTHER";
  }

 private:
  void finish(std::string_view method, std::string_view route,
              std::chrono::steady_clock::time_point start, unsigned status) {
    in_flight_.dec();
    char text[16];
    const auto end =
        std::to_chars(text, text + sizeof text, status < 1000 ? status : 0U)
            .ptr;
    requests_.with({method, route, std::string_view(text, end - text)}).inc();
    duration_.with({method, route})
        .observe(std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }

  const RouteTemplates routes_;
  CounterFamily& requests_;
  HistogramFamily& duration_;
  Gauge in_flight_;
};

}  // namespace http
VIGIL_NAMESPACE_END
