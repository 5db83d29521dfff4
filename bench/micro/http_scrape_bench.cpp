// Scrape throughput over loopback: vigil::http::Endpoint next to
// prometheus-cpp's Exposer (civetweb), both serving the same counter series.
// One client scrapes back to back over keep-alive (reconnecting whenever the
// server closes) and records each scrape's latency; prints a Markdown table.
//   vigil_http_scrape_bench [--seconds S] [--series N ...]
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <vigil/http/endpoint.hpp>
#include <vigil/vigil.hpp>

namespace {

namespace net = boost::asio;
namespace bh = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct Result {
  double scrapes_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::size_t body_bytes = 0;
  bool gzipped = false;
  bool kept_alive = true;
};

/// Scrapes 127.0.0.1:port/metrics back to back for `seconds`.
Result scrape(std::uint16_t port, bool gzip, double seconds) {
  net::io_context ioc;
  const net::ip::tcp::endpoint address(net::ip::make_address_v4("127.0.0.1"),
                                       port);
  std::unique_ptr<boost::beast::tcp_stream> stream;
  boost::beast::flat_buffer buffer;
  bh::request<bh::empty_body> req{bh::verb::get, "/metrics", 11};
  req.set(bh::field::host, "127.0.0.1");
  if (gzip) req.set(bh::field::accept_encoding, "gzip");
  std::vector<double> latencies;
  Result result;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    std::optional<bh::response_parser<bh::string_body>> parser;
    boost::beast::error_code ec;
    if (stream) {
      parser.emplace().body_limit(1 << 30);
      bh::write(*stream, req, ec);
      if (!ec) bh::read(*stream, buffer, *parser, ec);
      if (ec) {
        // The server closed the connection without saying so (civetweb does,
        // after responses it sent as keep-alive): reconnect and count it.
        result.kept_alive = false;
        stream.reset();
      }
    }
    if (!stream) {
      stream = std::make_unique<boost::beast::tcp_stream>(ioc);
      stream->connect(address);
      buffer.clear();
      parser.emplace().body_limit(1 << 30);
      bh::write(*stream, req);
      bh::read(*stream, buffer, *parser);
    }
    latencies.push_back(
        std::chrono::duration<double>(Clock::now() - t0).count());
    const auto& res = parser->get();
    if (res.result() != bh::status::ok) {
      std::fprintf(stderr, "scrape failed: %u\n", res.result_int());
      std::exit(1);
    }
    result.body_bytes = res.body().size();
    result.gzipped = res[bh::field::content_encoding] == "gzip";
    if (!res.keep_alive()) {
      result.kept_alive = false;
      stream.reset();
    }
  }
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  result.scrapes_per_second = static_cast<double>(latencies.size()) / elapsed;
  std::sort(latencies.begin(), latencies.end());
  result.p50_ms = latencies[latencies.size() / 2] * 1e3;
  result.p99_ms = latencies[latencies.size() * 99 / 100] * 1e3;
  return result;
}

std::string label(const char* prefix, std::size_t i) {
  return prefix + std::to_string(i);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::vector<std::size_t> sizes;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--series") == 0 && i + 1 < argc) {
      sizes.push_back(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--series N ...]\n",
                   argv[0]);
      return 2;
    }
  }
  if (sizes.empty()) sizes = {1000, 10000};

  std::printf(
      "| series | gzip | server | scrapes/s | p50 ms | p99 ms | body bytes | "
      "vigil/prometheus-cpp |\n|---:|:---:|---|---:|---:|---:|---:|---:|\n");
  for (const std::size_t series : sizes) {
    // The same series in both libraries: a counter with two labels.
    vigil::Registry vigil_registry;
    auto& vigil_family = vigil_registry.counter("bench_requests_total",
                                                "Requests.", {"shard", "id"});
    auto prom_registry = std::make_shared<prometheus::Registry>();
    auto& prom_family = prometheus::BuildCounter()
                            .Name("bench_requests_total")
                            .Help("Requests.")
                            .Register(*prom_registry);
    for (std::size_t i = 0; i < series; ++i) {
      const std::string shard = label("s", i % 16);
      const std::string id = label("id", i);
      vigil_family.with({shard, id}).inc(static_cast<double>(i));
      prom_family.Add({{"shard", shard}, {"id", id}})
          .Increment(static_cast<double>(i));
    }

    vigil::http::EndpointOptions options;
    vigil::http::Endpoint endpoint(options, vigil_registry);
    endpoint.start();
    prometheus::Exposer exposer("127.0.0.1:0");
    exposer.RegisterCollectable(prom_registry);
    const auto prom_port =
        static_cast<std::uint16_t>(exposer.GetListeningPorts().at(0));

    for (const bool gzip : {false, true}) {
      const Result ours = scrape(endpoint.port(), gzip, seconds);
      const Result theirs = scrape(prom_port, gzip, seconds);
      const auto row = [&](const char* server, const Result& r, double ratio) {
        std::printf("| %zu | %s | %s%s | %.0f | %.2f | %.2f | %zu | ", series,
                    gzip ? (r.gzipped ? "yes" : "asked, not given") : "no",
                    server, r.kept_alive ? "" : " (drops keep-alive)",
                    r.scrapes_per_second, r.p50_ms, r.p99_ms, r.body_bytes);
        if (ratio > 0) {
          std::printf("%.2fx |\n", ratio);
        } else {
          std::printf(" |\n");
        }
      };
      row("vigil::http::Endpoint", ours,
          ours.scrapes_per_second / theirs.scrapes_per_second);
      row("prometheus::Exposer", theirs, 0);
      std::fflush(stdout);
    }
  }
}
