// Time-lag interpolation and the Burrow-style evaluator, on explicit times.
#include <gtest/gtest.h>

#include <chrono>

#include "vigil/kafka/lag_evaluator.hpp"
#include "vigil/kafka/time_lag.hpp"

namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using vigil::kafka::LagEvaluator;
using vigil::kafka::LagStatus;
using vigil::kafka::OffsetTimeTable;
using time_point = std::chrono::steady_clock::time_point;

time_point at(int s) { return time_point(seconds(1000 + s)); }

TEST(OffsetTimeTable, InterpolatesBetweenSamples) {
  OffsetTimeTable table;
  EXPECT_FALSE(table.lag_seconds(0, at(0)));
  table.add(100, at(0));
  table.add(200, at(10));                         // 10 messages per second
  table.add(400, at(20));                         // 20 per second
  EXPECT_EQ(*table.lag_seconds(400, at(25)), 0);  // caught up
  // Message 149 arrived when the log end reached 150: t = 5.
  EXPECT_DOUBLE_EQ(*table.lag_seconds(149, at(25)), 20);
  // Message 299 arrived when the log end reached 300: t = 15.
  EXPECT_DOUBLE_EQ(*table.lag_seconds(299, at(25)), 10);
}

TEST(OffsetTimeTable, ExtrapolatesBeforeTheTable) {
  OffsetTimeTable table;
  table.add(100, at(0));
  table.add(200, at(10));
  // Message 49 (log end 50) at the table's 10/s rate: 5 s before t = 0.
  EXPECT_DOUBLE_EQ(*table.lag_seconds(49, at(10)), 15);
  // With no rate known, the table's age is the lower bound.
  OffsetTimeTable flat;
  flat.add(100, at(0));
  flat.add(100, at(30));
  EXPECT_DOUBLE_EQ(*flat.lag_seconds(50, at(40)), 40);
}

TEST(OffsetTimeTable, PlateausKeepTheirEndsAndCapacityHolds) {
  OffsetTimeTable table(4);
  table.add(100, at(0));
  for (int s = 1; s <= 50; ++s) table.add(100, at(s));  // quiet partition
  EXPECT_EQ(table.size(), 2u);
  table.add(200, at(60));
  // Message 149 (log end 150) arrived between t = 50 and t = 60.
  EXPECT_DOUBLE_EQ(*table.lag_seconds(149, at(60)), 5);
  table.add(300, at(70));
  table.add(400, at(80));
  EXPECT_EQ(table.size(), 4u);
  table.add(50, at(90));  // topic recreated
  EXPECT_EQ(table.size(), 1u);
}

struct Sample {
  std::int64_t committed;
  std::int64_t lag;
};

LagStatus judge(std::initializer_list<Sample> samples, int now_s = 0,
                std::size_t window = 4) {
  vigil::kafka::LagEvaluatorOptions options;
  options.window = window;
  options.stop_after = minutes(5);
  LagEvaluator evaluator(options);
  int s = 0;
  for (const auto& sample : samples) {
    evaluator.add(sample.committed, sample.lag, at(s));
    s += 10;
  }
  return evaluator.status(at(now_s ? now_s : s - 10));
}

TEST(LagEvaluator, FollowsBurrowsRules) {
  // Keeping up: zero lag somewhere in the window.
  EXPECT_EQ(judge({{10, 5}, {20, 0}, {30, 7}, {40, 9}}), LagStatus::kOk);
  // Too few samples to judge.
  EXPECT_EQ(judge({{10, 5}, {10, 5}, {10, 5}}), LagStatus::kOk);
  // Committed offset never moves while messages wait.
  EXPECT_EQ(judge({{10, 5}, {10, 6}, {10, 6}, {10, 9}}), LagStatus::kStall);
  // Moving, but falling further behind every time.
  EXPECT_EQ(judge({{10, 5}, {20, 6}, {30, 6}, {40, 9}}), LagStatus::kWarn);
  // Moving and the lag shrank at some point.
  EXPECT_EQ(judge({{10, 5}, {20, 6}, {30, 4}, {40, 9}}), LagStatus::kOk);
  // No commit for longer than stop_after.
  EXPECT_EQ(judge({{10, 5}, {10, 5}}, 400), LagStatus::kStop);
  // ...unless nothing waits.
  EXPECT_EQ(judge({{10, 0}, {10, 0}}, 400), LagStatus::kOk);
  // Nothing committed yet: no judgement.
  EXPECT_EQ(judge({{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}}, 400),
            LagStatus::kOk);
  // The window slides: an old zero no longer excuses a stall.
  EXPECT_EQ(judge({{10, 0}, {10, 5}, {10, 5}, {10, 5}, {10, 5}}),
            LagStatus::kStall);
}

TEST(LagEvaluator, MapsToHealth) {
  EXPECT_EQ(vigil::kafka::health_verdict(LagStatus::kOk),
            vigil::HealthVerdict::kPass);
  EXPECT_EQ(vigil::kafka::health_verdict(LagStatus::kWarn),
            vigil::HealthVerdict::kWarn);
  EXPECT_EQ(vigil::kafka::health_verdict(LagStatus::kStall),
            vigil::HealthVerdict::kFail);
  EXPECT_EQ(vigil::kafka::health_verdict(LagStatus::kStop),
            vigil::HealthVerdict::kFail);
  EXPECT_STREQ(vigil::kafka::to_string(LagStatus::kStall), "stall");
}

}  // namespace
