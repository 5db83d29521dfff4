#include "vigil/http/handler.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <string>

#include "test_client.hpp"

namespace {

namespace bh = boost::beast::http;
using vigil::http::Auth;
using vigil::http::Handler;
using vigil::http::HandlerOptions;
using vigil::http::HealthRegistry;
using vigil::http::Probe;

bh::request<bh::string_body> request(bh::verb method, const char* target) {
  bh::request<bh::string_body> req{method, target, 11};
  req.set(bh::field::host, "api.internal");
  return req;
}

TEST(Handler, LeavesOtherPathsToTheService) {
  vigil::Registry registry;
  const Handler handler(registry);
  EXPECT_FALSE(handler.handle(request(bh::verb::get, "/v1/messages")));
  EXPECT_FALSE(handler.handle(request(bh::verb::get, "/metricsx")));
  EXPECT_FALSE(handler.handle(request(bh::verb::get, "/health/")));
  EXPECT_FALSE(handler.owns("/healthz"));
  EXPECT_TRUE(handler.owns("/metrics?x=1"));
  EXPECT_TRUE(handler.owns("/health/started"));
}

TEST(Handler, ServesMetricsInsideAnotherServer) {
  vigil::Registry registry;
  registry.counter("api_calls_total", "Calls.").with({}).inc(2);
  const Handler handler(registry);
  auto res = handler.handle(request(bh::verb::get, "/metrics?debug=1"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), bh::status::ok);
  EXPECT_EQ(res->at(bh::field::content_type),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(vigil_test::sample_value(res->body(), "api_calls_total"), 2);
  EXPECT_EQ(res->at(bh::field::content_length),
            std::to_string(res->body().size()));
  EXPECT_TRUE(res->keep_alive());
}

TEST(Handler, RejectsOtherMethodsWithAllow) {
  vigil::Registry registry;
  const Handler handler(registry);
  for (const char* target : {"/metrics", "/health/ready"}) {
    auto res = handler.handle(request(bh::verb::post, target));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result(), bh::status::method_not_allowed);
    EXPECT_EQ(res->at(bh::field::allow), "GET, HEAD");
  }
}

TEST(Handler, HealthWithoutRegistryPasses) {
  vigil::Registry registry;
  const Handler handler(registry);
  auto res = handler.handle(request(bh::verb::get, "/health/live"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), bh::status::ok);
  EXPECT_EQ(res->at(bh::field::content_type), "application/health+json");
  EXPECT_EQ(res->body(), "{\"status\":\"pass\",\"checks\":{}}");
}

TEST(Handler, ProbesSelectTheirChecks) {
  vigil::Registry registry;
  HealthRegistry health(registry);
  health.add_push_check("db", Probe::kReadiness);
  health.add_push_check("boot", Probe::kStartup,
                        vigil::http::CheckResult::fail("loading"));
  HandlerOptions options;
  options.health_path = "/status";
  const Handler handler(registry, health, options);
  EXPECT_EQ(handler.handle(request(bh::verb::get, "/status/live"))->result(),
            bh::status::ok);
  EXPECT_EQ(handler.handle(request(bh::verb::get, "/status/ready"))->result(),
            bh::status::ok);
  EXPECT_EQ(handler.handle(request(bh::verb::get, "/status/started"))->result(),
            bh::status::service_unavailable);
  EXPECT_EQ(handler.handle(request(bh::verb::get, "/status"))->result(),
            bh::status::service_unavailable);
  EXPECT_FALSE(handler.handle(request(bh::verb::get, "/health")));
}

TEST(Handler, BearerTokenGuardsMetricsOnly) {
  vigil::Registry registry;
  HandlerOptions options;
  options.auth = Auth::bearer("s3cret");
  const Handler handler(registry, options);
  auto res = handler.handle(request(bh::verb::get, "/metrics"));
  EXPECT_EQ(res->result(), bh::status::unauthorized);
  EXPECT_EQ(res->at(bh::field::www_authenticate), "Bearer realm=\"vigil\"");
  auto req = request(bh::verb::get, "/metrics");
  req.set(bh::field::authorization, "Bearer wrong");
  EXPECT_EQ(handler.handle(req)->result(), bh::status::unauthorized);
  req.set(bh::field::authorization, "bearer s3cret");
  EXPECT_EQ(handler.handle(req)->result(), bh::status::ok);
  EXPECT_EQ(handler.handle(request(bh::verb::get, "/health/ready"))->result(),
            bh::status::ok);
  EXPECT_EQ(vigil_test::sample_value(registry.scrape(),
                                     "vigil_http_unauthorized_total"),
            2);
}

TEST(Handler, BasicAuthCanGuardHealthToo) {
  vigil::Registry registry;
  HandlerOptions options;
  options.auth = Auth::basic("prometheus", "pa:ss");
  options.auth.protect_health = true;
  const Handler handler(registry, options);
  auto req = request(bh::verb::get, "/health");
  EXPECT_EQ(handler.handle(req)->result(), bh::status::unauthorized);
  // base64("prometheus:pa:ss")
  req.set(bh::field::authorization, "Basic cHJvbWV0aGV1czpwYTpzcw==");
  EXPECT_EQ(handler.handle(req)->result(), bh::status::ok);
  req.set(bh::field::authorization, "Basic cHJvbWV0aGV1czpwYXNz");
  EXPECT_EQ(handler.handle(req)->result(), bh::status::unauthorized);
  req.set(bh::field::authorization, "Basic");
  EXPECT_EQ(handler.handle(req)->result(), bh::status::unauthorized);
}

TEST(Handler, Base64MatchesRfc4648) {
  using vigil::http::detail::base64;
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64("\xff\xfe"), "//4=");
}

TEST(Handler, CountsScrapesByFormatAndEncoding) {
  vigil::Registry registry;
  const Handler handler(registry);
  auto req = request(bh::verb::get, "/metrics");
  req.set(bh::field::accept, "application/openmetrics-text");
  req.set(bh::field::accept_encoding, "gzip");
  handler.handle(req);
  handler.handle(request(bh::verb::get, "/metrics"));
  const std::string body = registry.scrape();
  EXPECT_EQ(
      vigil_test::sample_value(
          body,
          "vigil_scrapes_total{format=\"openmetrics\",encoding=\"gzip\"}"),
      1);
  EXPECT_EQ(
      vigil_test::sample_value(
          body, "vigil_scrapes_total{format=\"text\",encoding=\"identity\"}"),
      1);
  EXPECT_EQ(
      vigil_test::sample_value(body, "vigil_scrape_duration_seconds_count"), 2);
  EXPECT_GT(vigil_test::sample_value(body, "vigil_scrape_bytes_total"), 0);
}

}  // namespace
