// Scenario shapes, overrides and k6 threshold expressions; the summary's
// threshold verdicts and shape.
#include "scenario.hpp"

#include <gtest/gtest.h>

#include "summary.hpp"

namespace {

using namespace chat_load;

Scenario named(const std::string& name, const Overrides& o = {}) {
  std::string error;
  auto s = make_scenario(name, o, &error);
  EXPECT_TRUE(s) << error;
  return s.value_or(Scenario{});
}

TEST(Scenario, EveryNameExistsAndUnknownOnesAreRefused) {
  for (const auto& name : scenario_names()) EXPECT_EQ(named(name).name, name);
  std::string error;
  EXPECT_FALSE(make_scenario("nope", {}, &error));
  EXPECT_NE(error.find("nope"), std::string::npos);
}

TEST(Scenario, SpikeGoesToTenTimesInTenSecondsAndBack) {
  const Scenario s = named("spike");
  EXPECT_DOUBLE_EQ(s.target_at(5), s.base_rate);
  EXPECT_DOUBLE_EQ(s.target_at(15), 5.5 * s.base_rate);  // mid-ramp
  EXPECT_DOUBLE_EQ(s.target_at(30), 10 * s.base_rate);
  EXPECT_DOUBLE_EQ(s.target_at(100), s.base_rate);
}

TEST(Scenario, DurationOverrideKeepsTheShape) {
  Overrides o;
  o.duration_seconds = 12;
  const Scenario s = named("spike", o);
  EXPECT_DOUBLE_EQ(s.duration_seconds(), 12);
  EXPECT_DOUBLE_EQ(s.target_at(3), 10 * s.base_rate);  // the hold, scaled
}

TEST(Scenario, RateOverrideIsOpenVusOverrideIsClosed) {
  Overrides rate;
  rate.rate = 42;
  EXPECT_EQ(named("file-upload", rate).model, Model::kOpen);
  EXPECT_DOUBLE_EQ(named("baseline", rate).target_at(1), 42);
  Overrides vus;
  vus.vus = 7;
  const Scenario closed = named("baseline", vus);
  EXPECT_EQ(closed.model, Model::kClosed);
  EXPECT_DOUBLE_EQ(closed.target_at(1), 7);
  std::string error;
  vus.vus = 0;
  EXPECT_FALSE(make_scenario("baseline", vus, &error));
}

TEST(Scenario, StressStepsUpByTheBaseRate) {
  Overrides o;
  o.rate = 500;
  o.duration_seconds = 30;
  o.step_seconds = 10;
  const Scenario s = named("stress", o);
  EXPECT_DOUBLE_EQ(s.duration_seconds(), 30);
  EXPECT_DOUBLE_EQ(s.target_at(5), 500);
  EXPECT_DOUBLE_EQ(s.target_at(15), 1000);
  EXPECT_DOUBLE_EQ(s.target_at(25), 1500);
  ASSERT_TRUE(s.breakpoint);
  EXPECT_DOUBLE_EQ(s.breakpoint->step_seconds, 10);
}

TEST(Threshold, K6Expressions) {
  const std::map<std::string, double> stats = {
      {"p(95)", 150}, {"p(99)", 600}, {"rate", 0}, {"avg", 5}};
  EXPECT_EQ(threshold_holds("p(95)<200", stats), true);
  EXPECT_EQ(threshold_holds("p(99) < 500", stats), false);
  EXPECT_EQ(threshold_holds("rate==0", stats), true);
  EXPECT_EQ(threshold_holds("avg<=5", stats), true);
  EXPECT_EQ(threshold_holds("avg>5", stats), false);
  EXPECT_EQ(threshold_holds("avg!=5", stats), false);
  EXPECT_EQ(threshold_holds("p(90)<1", stats), std::nullopt);  // missing
  EXPECT_EQ(threshold_holds("p(95)<fast", stats), std::nullopt);
  EXPECT_EQ(threshold_holds("p(95)", stats), std::nullopt);
}

RunResult run_with(std::uint64_t ok, std::uint64_t failed,
                   std::uint64_t latency_ns) {
  RunResult r;
  r.seconds = 10;
  for (std::uint64_t i = 0; i < ok + failed; ++i) {
    r.total.duration.record(latency_ns);
  }
  r.total.requests = ok + failed;
  r.total.failed = failed;
  r.total.accepted = ok;
  r.total.iterations = ok + failed;
  r.total.statuses[202] = ok;
  if (failed) r.total.statuses[503] = failed;
  r.total.checks["message accepted (202)"] = {ok, failed};
  return r;
}

TEST(Summary, K6ShapeWithThresholdVerdicts) {
  const Scenario s = named("baseline");
  const auto good = k6_summary(run_with(1000, 0, 2'000'000), s, "ids");
  const auto& m = good["metrics"];
  EXPECT_DOUBLE_EQ(m["http_reqs"]["count"].get<double>(), 1000);
  EXPECT_DOUBLE_EQ(m["http_reqs"]["rate"].get<double>(), 100);
  EXPECT_NEAR(m["http_req_duration"]["p(99)"].get<double>(), 2, 0.02);
  for (const char* key : {"avg", "min", "med", "max", "p(90)", "p(95)"}) {
    EXPECT_TRUE(m["http_req_duration"].contains(key)) << key;
  }
  EXPECT_EQ(m["http_req_failed"]["value"].get<double>(), 0);
  EXPECT_EQ(m["checks"]["passes"].get<int>(), 1000);
  EXPECT_EQ(m["iterations"]["count"].get<double>(), 1000);
  // k6 writes true for a FAILED threshold.
  EXPECT_EQ(m["http_req_duration"]["thresholds"]["p(95)<200"], false);
  EXPECT_EQ(m["http_req_failed"]["thresholds"]["rate<0.005"], false);
  EXPECT_TRUE(thresholds_passed(good));
  EXPECT_EQ(good["root_group"]["checks"]["message accepted (202)"]["passes"],
            1000);

  const auto slow = k6_summary(run_with(990, 10, 700'000'000), s, "ids");
  EXPECT_EQ(slow["metrics"]["http_req_duration"]["thresholds"]["p(99)<500"],
            true);
  EXPECT_EQ(slow["metrics"]["http_req_failed"]["thresholds"]["rate<0.005"],
            true);
  EXPECT_FALSE(thresholds_passed(slow));
  EXPECT_FALSE(slow["chat_load"]["thresholds_passed"].get<bool>());
}

TEST(Summary, StressReportsTheLastPassingStepAsTheBreakpoint) {
  Overrides o;
  o.rate = 1000;
  RunResult r = run_with(100, 0, 1'000'000);
  r.steps = {{1000, 1000, 3, 0, true, ""},
             {2000, 1990, 9, 0, true, ""},
             {3000, 2400, 80, 0, false, "p99 80.0 ms >= 25 ms"}};
  const auto summary = k6_summary(r, named("stress", o), "ids");
  const auto& stress = summary["chat_load"]["stress"];
  EXPECT_EQ(stress["breakpoint_rate"].get<double>(), 2000);
  EXPECT_EQ(stress["breakpoint_achieved_rate"].get<double>(), 1990);
  EXPECT_EQ(stress["broken_by"], "p99 80.0 ms >= 25 ms");
  EXPECT_EQ(stress["steps"].size(), 3u);
}

}  // namespace
