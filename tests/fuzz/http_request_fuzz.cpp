// Fuzzes vigil::http's request path: Accept/Accept-Encoding parsing and the
// routing of arbitrary requests through Beast's parser into the Handler, with
// the Endpoint's limits.
#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vigil/http/handler.hpp"
#include "vigil/http/server_metrics.hpp"

namespace {

struct Fixture {
  Fixture() {
    registry.counter("fuzz_events_total", "Events.", {"kind"})
        .with({"a"})
        .inc();
    health.add_push_check("db", vigil::http::Probe::kReadiness);
    options.auth = vigil::http::Auth::basic("user", "secret");
  }
  vigil::Registry registry;
  vigil::http::HealthRegistry health{registry};
  vigil::http::HandlerOptions options;
  vigil::http::Handler open{registry, health};
  vigil::http::Handler guarded{registry, health, options};
  vigil::http::RouteTemplates routes{{"/v1/conversations/{id}/messages", "/"}};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static Fixture fixture;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  vigil::http::detail::negotiate_format(input);
  vigil::http::detail::accepts_gzip(input);
  fixture.guarded.options().auth.allows(input);
  fixture.routes.match(input);

  namespace bh = boost::beast::http;
  bh::request_parser<bh::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(16 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  const auto& req = parser.get();
  fixture.open.handle(req);
  fixture.guarded.handle(req);
  return 0;
}
