#include "vigil/http/server_metrics.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "test_client.hpp"

namespace {

using vigil::http::kUnmatchedRoute;
using vigil::http::RouteTemplates;
using vigil::http::ServerMetrics;
using vigil_test::sample_value;

TEST(RouteTemplates, MatchesTemplatesNotRawPaths) {
  const RouteTemplates routes({"/v1/messages",
                               "/v1/conversations/{id}/messages",
                               "/v1/users/{id}", "/v1/users/me", "/"});
  EXPECT_EQ(routes.match("/v1/messages"), "/v1/messages");
  EXPECT_EQ(routes.match("/v1/conversations/42/messages?limit=5"),
            "/v1/conversations/{id}/messages");
  EXPECT_EQ(routes.match("/v1/users/7"), "/v1/users/{id}");
  EXPECT_EQ(routes.match("/v1/users/me"), "/v1/users/me");  // literal wins
  EXPECT_EQ(routes.match("/"), "/");
  EXPECT_EQ(routes.match("/v1/conversations//messages"), kUnmatchedRoute);
  EXPECT_EQ(routes.match("/v1/messages/extra"), kUnmatchedRoute);
  EXPECT_EQ(routes.match("/v1/messages/"), kUnmatchedRoute);
  EXPECT_EQ(routes.match("/wp-admin.php"), kUnmatchedRoute);
  EXPECT_EQ(routes.match(""), kUnmatchedRoute);
  EXPECT_THROW(RouteTemplates({"v1/no-slash"}), std::invalid_argument);
}

TEST(RouteTemplates, SurvivesCopiesOfShortTemplates) {
  // Short strings live inline and move with their object.
  RouteTemplates original({"/a/{x}", "/b"});
  const RouteTemplates copy = original;
  EXPECT_EQ(copy.match("/a/1"), "/a/{x}");
  EXPECT_EQ(copy.match("/b"), "/b");
}

TEST(ServerMetrics, RecordsRequestsByTemplateMethodAndStatus) {
  vigil::Registry registry;
  ServerMetrics metrics(registry, {"/v1/conversations/{id}/messages"});
  for (const char* id : {"1", "2", "3"}) {
    auto scope =
        metrics.track(std::string("GET"),
                      "/v1/conversations/" + std::string(id) + "/messages");
    scope.set_status(200);
  }
  {
    auto scope =
        metrics.track(std::string_view("BREW"), std::string_view("/coffee"));
    scope.set_status(404);
  }
  {
    auto scope =
        metrics.track(std::string_view("POST"), std::string_view("/x"));
  }

  const std::string body = registry.scrape();
  EXPECT_EQ(sample_value(body,
                         "http_requests_total{method=\"GET\",route=\"/v1/"
                         "conversations/{id}/messages\",status=\"200\"}"),
            3);
  EXPECT_EQ(sample_value(body, "http_requests_total{method=\"OTHER\",route=\"" +
                                   std::string(kUnmatchedRoute) +
                                   "\",status=\"404\"}"),
            1);
  // A scope without a status means the handler threw.
  EXPECT_EQ(sample_value(body, "http_requests_total{method=\"POST\",route=\"" +
                                   std::string(kUnmatchedRoute) +
                                   "\",status=\"500\"}"),
            1);
  EXPECT_EQ(sample_value(body,
                         "http_request_duration_seconds_count{method="
                         "\"GET\",route=\"/v1/conversations/{id}/"
                         "messages\"}"),
            3);
  EXPECT_EQ(sample_value(body, "http_requests_in_flight"), 0);
  EXPECT_EQ(body.find("/v1/conversations/1/"), std::string::npos);
}

TEST(ServerMetrics, InFlightCountsOpenScopes) {
  vigil::Registry registry;
  ServerMetrics metrics(registry, {"/a"});
  auto first = metrics.track(std::string_view("GET"), std::string_view("/a"));
  auto moved = std::move(first);
  EXPECT_EQ(sample_value(registry.scrape(), "http_requests_in_flight"), 1);
  moved.set_status(204);
  EXPECT_EQ(moved.route(), "/a");
}

}  // namespace
