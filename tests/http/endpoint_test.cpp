#include "vigil/http/endpoint.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "test_client.hpp"

namespace {

using namespace std::chrono_literals;
using vigil::http::CheckResult;
using vigil::http::Endpoint;
using vigil::http::EndpointOptions;
using vigil::http::HealthRegistry;
using vigil::http::Probe;
namespace bh = boost::beast::http;
using vigil_test::Client;
using vigil_test::eventually;
using vigil_test::sample_value;

/// A registry with some series, a health registry, captured log lines and
/// an endpoint on a free loopback port.
class EndpointTest : public ::testing::Test {
 protected:
  EndpointTest() {
    auto& family = registry_.counter("test_events_total", "Events.", {"kind"});
    for (int i = 0; i < 200; ++i)
      family.with({"kind_" + std::to_string(i)}).inc(i);
    registry_.histogram("test_latency_seconds", "Latency.")
        .with({})
        .observe(0.2);
    health_.add_push_check("db", Probe::kReadiness | Probe::kLiveness);
  }

  void start(EndpointOptions options = {}) {
    options.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mutex_);
      log_.emplace_back(line);
    };
    endpoint_ = std::make_unique<Endpoint>(options, registry_, health_);
    endpoint_->start();
  }

  Client client() { return Client(ioc_, endpoint_->port()); }

  bool logged(std::string_view fragment) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    for (const auto& line : log_) {
      if (line.find(fragment) != std::string::npos) return true;
    }
    return false;
  }

  /// The endpoint's own view of a series, read through the registry.
  double metric(const std::string& series) {
    return sample_value(registry_.scrape(), series);
  }

  vigil::Registry registry_;
  HealthRegistry health_{registry_};
  std::mutex log_mutex_;
  std::vector<std::string> log_;
  std::unique_ptr<Endpoint> endpoint_;
  vigil_test::net::io_context ioc_;
};

TEST_F(EndpointTest, BindsLoopbackOnAFreePortAndLogsStart) {
  start();
  EXPECT_NE(endpoint_->port(), 0);
  EXPECT_TRUE(logged("\"event\":\"endpoint_started\""));
  EXPECT_TRUE(logged("\"bind\":\"127.0.0.1\""));
  EXPECT_THROW(endpoint_->start(), std::logic_error);
}

TEST_F(EndpointTest, OptionsTakeDesignatedInitializers) {
  // The shape services write (C++20), as in the issue. GCC 12's -Wextra
  // flags the omitted members, which take their defaults by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
  Endpoint endpoint({.bind = "127.0.0.1", .port = 0}, registry_, health_);
#pragma GCC diagnostic pop
  endpoint.start();
  Client c(ioc_, endpoint.port());
  EXPECT_EQ(c.get("/health/ready").result(), bh::status::ok);
}

TEST_F(EndpointTest, PortInUseThrowsAndStartCanBeRetried) {
  start();
  EndpointOptions options;
  options.port = endpoint_->port();
  Endpoint second(options, registry_);
  EXPECT_THROW(second.start(), std::runtime_error);
  endpoint_->stop();  // the port is free now
  ASSERT_NO_THROW(second.start());
  Client c(ioc_, second.port());
  EXPECT_EQ(c.get("/health/live").result(), bh::status::ok);
}

TEST_F(EndpointTest, NegotiatesOpenMetricsAndText) {
  start();
  auto c = client();
  auto om = c.get("/metrics", {{bh::field::accept,
                                "application/openmetrics-text;version=1.0.0,"
                                "text/plain;version=0.0.4;q=0.5"}});
  EXPECT_EQ(om.result(), bh::status::ok);
  EXPECT_EQ(om[bh::field::content_type],
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
  ASSERT_GE(om.body().size(), 6u);
  EXPECT_EQ(om.body().substr(om.body().size() - 6), "# EOF\n");
  EXPECT_NE(om.body().find("test_events_total{kind=\"kind_7\"} 7"),
            std::string::npos);

  auto text = c.get("/metrics");  // same keep-alive connection
  EXPECT_EQ(text[bh::field::content_type],
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(text.body().find("# EOF"), std::string::npos);
  EXPECT_EQ(sample_value(text.body(), "test_events_total{kind=\"kind_7\"}"), 7);
  EXPECT_EQ(text[bh::field::vary], "Accept, Accept-Encoding");
}

/// Drops vigil's self-metrics, which count the scrapes being compared.
std::string without_self_metrics(const std::string& body) {
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    end = end == std::string::npos ? body.size() : end + 1;
    const std::string line = body.substr(pos, end - pos);
    if (line.find("vigil_") == std::string::npos) out += line;
    pos = end;
  }
  return out;
}

TEST_F(EndpointTest, GzipDecodesToThePlainBody) {
  start();
  auto c = client();
  auto zipped = c.get("/metrics", {{bh::field::accept_encoding, "gzip, br"}});
  auto plain = c.get("/metrics");
  ASSERT_EQ(zipped[bh::field::content_encoding], "gzip");
  EXPECT_EQ(plain[bh::field::content_encoding], "");
  EXPECT_LT(zipped.body().size(), plain.body().size() / 3);
  const std::string inflated = vigil_test::gunzip(zipped.body());
  EXPECT_EQ(without_self_metrics(inflated), without_self_metrics(plain.body()));
  EXPECT_GT(without_self_metrics(inflated).size(), 1000u);
}

TEST_F(EndpointTest, HeadSendsHeadersOnly) {
  start();
  auto c = client();
  auto head = c.request(bh::verb::head, "/metrics");
  EXPECT_EQ(head.result(), bh::status::ok);
  EXPECT_TRUE(head.body().empty());
  EXPECT_GT(std::stoul(std::string(head[bh::field::content_length])), 1000u);
  // The connection is still in sync: the next response parses.
  EXPECT_EQ(c.get("/health/live").result(), bh::status::ok);
}

TEST_F(EndpointTest, UnknownPathIs404AndOtherMethodsAre405) {
  start();
  auto c = client();
  EXPECT_EQ(c.get("/nope").result(), bh::status::not_found);
  auto res = c.request(bh::verb::delete_, "/metrics");
  EXPECT_EQ(res.result(), bh::status::method_not_allowed);
  EXPECT_EQ(res[bh::field::allow], "GET, HEAD");
  EXPECT_EQ(c.get("/health").result(), bh::status::ok);  // still alive
}

TEST_F(EndpointTest, OversizedBodyIs413) {
  EndpointOptions options;
  options.max_request_bytes = 1024;
  start(options);
  auto c = client();
  auto res =
      c.request(bh::verb::post, "/metrics", {}, std::string(64 * 1024, 'x'));
  EXPECT_EQ(res.result(), bh::status::payload_too_large);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(c.wait_closed(), boost::asio::error::eof);
  EXPECT_EQ(
      metric("vigil_http_requests_rejected_total{reason=\"body_too_large\"}"),
      1);
  EXPECT_TRUE(logged("\"reason\":\"body_too_large\""));
}

TEST_F(EndpointTest, OversizedHeaderIs431) {
  EndpointOptions options;
  options.max_request_bytes = 1024;
  start(options);
  auto c = client();
  auto res =
      c.get("/metrics", {{bh::field::user_agent, std::string(4096, 'a')}});
  EXPECT_EQ(res.result(), bh::status::request_header_fields_too_large);
}

TEST_F(EndpointTest, MalformedRequestLinesAre400) {
  start();
  for (const char* garbage : {"GARBAGE\r\n\r\n", "GET /metrics FOO/1.1\r\n\r\n",
                              "GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n",
                              "\x01\x02\x03\r\n\r\n"}) {
    auto c = client();
    ASSERT_FALSE(c.send_raw(garbage));
    vigil_test::Reply res;
    ASSERT_FALSE(c.receive(res)) << garbage;
    EXPECT_EQ(res.result(), bh::status::bad_request) << garbage;
    EXPECT_EQ(c.wait_closed(), boost::asio::error::eof);
  }
  EXPECT_EQ(metric("vigil_http_requests_rejected_total{reason=\"malformed\"}"),
            4);
}

TEST_F(EndpointTest, SlowClientTimesOutAndIsClosed) {
  EndpointOptions options;
  options.read_timeout = 100ms;
  start(options);
  auto c = client();
  ASSERT_FALSE(
      c.send_raw("GET /metrics HTTP/1.1\r\nHost: x\r\n"));  // never ends
  EXPECT_EQ(c.wait_closed(), boost::asio::error::eof);
  // Beast's timer closes the socket before the session's handler runs, so
  // the client can see the close before the server has counted it.
  EXPECT_TRUE(eventually([&] {
    return metric("vigil_http_requests_rejected_total{reason=\"timeout\"}") ==
           1;
  }));
  EXPECT_TRUE(eventually([&] {
    return logged("\"event\":\"request_rejected\"") &&
           logged("\"reason\":\"timeout\"");
  }));
}

TEST_F(EndpointTest, IdleKeepAliveConnectionIsClosed) {
  EndpointOptions options;
  options.idle_timeout = 100ms;
  start(options);
  auto c = client();
  EXPECT_EQ(c.get("/health/live").result(), bh::status::ok);
  EXPECT_EQ(c.wait_closed(), boost::asio::error::eof);
}

TEST_F(EndpointTest, ConnectionsBeyondTheCapAreRefused) {
  EndpointOptions options;
  options.max_connections = 2;
  start(options);
  auto first = client();
  auto second = client();
  EXPECT_EQ(first.get("/health/live").result(), bh::status::ok);
  EXPECT_EQ(second.get("/health/live").result(), bh::status::ok);
  auto third = client();
  vigil_test::Reply refused;
  if (!third.receive(refused)) {
    EXPECT_EQ(refused.result(), bh::status::service_unavailable);
  }
  EXPECT_NE(third.wait_closed(), boost::beast::error::timeout);
  EXPECT_EQ(metric("vigil_http_connections_rejected_total"), 1);
  first.close();
  // Freed capacity is reused once the server has seen the close.
  EXPECT_TRUE(
      eventually([&] { return metric("vigil_http_connections_open") == 1; }));
  auto fourth = client();
  EXPECT_EQ(fourth.get("/health/live").result(), bh::status::ok);
}

TEST_F(EndpointTest, ConnectionsBeyondThePerAddressCapAreRefused) {
  EndpointOptions options;
  options.max_connections = 10;
  options.max_connections_per_address = 1;
  start(options);
  auto first = client();
  EXPECT_EQ(first.get("/health/live").result(), bh::status::ok);
  auto second = client();
  vigil_test::Reply refused;
  if (!second.receive(refused)) {
    EXPECT_EQ(refused.result(), bh::status::service_unavailable);
    EXPECT_EQ(refused[bh::field::content_type], "application/problem+json");
  }
  EXPECT_NE(second.wait_closed(), boost::beast::error::timeout);
  EXPECT_EQ(metric("vigil_http_connections_rejected_total"), 1);
  EXPECT_TRUE(eventually([&] { return logged("\"reason\":\"address_cap\""); }));
  first.close();
  EXPECT_TRUE(
      eventually([&] { return metric("vigil_http_connections_open") == 0; }));
  auto third = client();
  EXPECT_EQ(third.get("/health/live").result(), bh::status::ok);
}

TEST_F(EndpointTest, HealthTransitionsShowAtProbeAndInMetric) {
  start();
  auto c = client();
  const std::string status_series =
      "vigil_health_check_status{check=\"db\",kind=\"readiness\"}";
  auto ready = c.get("/health/ready");
  EXPECT_EQ(ready.result(), bh::status::ok);
  EXPECT_EQ(ready[bh::field::content_type], "application/health+json");
  EXPECT_EQ(sample_value(c.get("/metrics").body(), status_series), 1);

  health_.set("db", CheckResult::fail("connection refused"));
  ready = c.get("/health/ready");
  EXPECT_EQ(ready.result(), bh::status::service_unavailable);
  EXPECT_NE(ready.body().find("connection refused"), std::string::npos);
  EXPECT_EQ(c.get("/health/live").result(), bh::status::service_unavailable);
  EXPECT_EQ(sample_value(c.get("/metrics").body(), status_series), 0);

  health_.set("db", CheckResult::pass());
  EXPECT_EQ(c.get("/health/ready").result(), bh::status::ok);
  EXPECT_EQ(sample_value(c.get("/metrics").body(), status_series), 1);
}

TEST_F(EndpointTest, BearerTokenOverTheWire) {
  EndpointOptions options;
  options.handler.auth = vigil::http::Auth::bearer("t0ken");
  start(options);
  auto c = client();
  EXPECT_EQ(c.get("/metrics").result(), bh::status::unauthorized);
  EXPECT_EQ(
      c.get("/metrics", {{bh::field::authorization, "Bearer t0ken"}}).result(),
      bh::status::ok);
  EXPECT_EQ(c.get("/health/ready").result(), bh::status::ok);
}

TEST_F(EndpointTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  auto c = client();
  ASSERT_FALSE(
      c.send_raw("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"));
  vigil_test::Reply first;
  vigil_test::Reply second;
  ASSERT_FALSE(c.receive(first));
  ASSERT_FALSE(c.receive(second));
  EXPECT_EQ(first.result(), bh::status::ok);
  EXPECT_EQ(second.result(), bh::status::not_found);
}

TEST_F(EndpointTest, StopClosesIdleConnectionsAndLogs) {
  EndpointOptions options;
  options.threads = 2;
  start(options);
  auto c = client();
  EXPECT_EQ(c.get("/health/live").result(), bh::status::ok);
  endpoint_->stop();
  EXPECT_EQ(c.wait_closed(), boost::asio::error::eof);
  EXPECT_TRUE(logged("\"event\":\"endpoint_stopped\""));
  endpoint_->stop();  // idempotent
  EXPECT_THROW(Client(ioc_, endpoint_->port()), boost::system::system_error);
}

TEST_F(EndpointTest, ConcurrentScrapesFromManyThreads) {
  EndpointOptions options;
  options.threads = 2;
  start(options);
  auto counter = registry_.counter("test_hot_total", "Hot.").with({});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      vigil_test::net::io_context ioc;
      Client c(ioc, endpoint_->port());
      for (int i = 0; i < 20; ++i) {
        counter.inc();
        if (c.get("/metrics", {{bh::field::accept_encoding, "gzip"}})
                .result() == bh::status::ok) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_EQ(metric("vigil_scrapes_total{format=\"text\",encoding=\"gzip\"}"),
            80);
}

}  // namespace
