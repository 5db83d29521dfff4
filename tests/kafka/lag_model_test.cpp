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

vigil::kafka::LagEvaluatorOptions window_of(std::size_t window) {
  vigil::kafka::LagEvaluatorOptions options;
  options.window = window;
  options.stop_after = minutes(5);
  return options;
}

// Feeds one probe sample every 10 s from t = 0 and judges at `now_s`, by
// default the last sample's time.
LagStatus judge(std::initializer_list<Sample> samples, int now_s = 0,
                std::size_t window = 4) {
  LagEvaluator evaluator(window_of(window));
  int s = 0;
  for (const auto& sample : samples) {
    evaluator.add(sample.committed, sample.lag, at(s));
    s += 10;
  }
  return evaluator.status(at(now_s ? now_s : s - 10));
}

// The same with commit events, one every 10 s.
LagStatus judge_commits(std::initializer_list<Sample> commits,
                        std::size_t window = 4) {
  LagEvaluator evaluator(window_of(window));
  int s = 0;
  for (const auto& c : commits) {
    evaluator.commit(c.committed, c.lag, at(s));
    s += 10;
  }
  return evaluator.status(at(s - 10));
}

TEST(LagEvaluator, FollowsBurrowsRules) {
  // Keeping up: zero lag somewhere in the window.
  EXPECT_EQ(judge({{10, 5}, {20, 0}, {30, 7}, {40, 9}}), LagStatus::kOk);
  // One commit seen, however many samples: too few to judge a trend.
  EXPECT_EQ(judge({{10, 5}, {10, 5}, {10, 5}}), LagStatus::kOk);
  // Committing the same offset while messages wait.
  EXPECT_EQ(judge_commits({{10, 5}, {10, 6}, {10, 6}, {10, 9}}),
            LagStatus::kStall);
  // Moving, but falling further behind every time.
  EXPECT_EQ(judge({{10, 5}, {20, 6}, {30, 6}, {40, 9}}), LagStatus::kWarn);
  // Moving and the lag shrank at some point.
  EXPECT_EQ(judge({{10, 5}, {20, 6}, {30, 4}, {40, 9}}), LagStatus::kOk);
  // No commit for longer than stop_after (the window spans nothing).
  EXPECT_EQ(judge({{10, 5}, {10, 5}}, 400), LagStatus::kStop);
  // ...unless nothing waits.
  EXPECT_EQ(judge({{10, 0}, {10, 0}}, 400), LagStatus::kOk);
  // Nothing committed yet: no judgement.
  EXPECT_EQ(judge({{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}}, 400),
            LagStatus::kOk);
  // The window slides: an old zero no longer excuses a stall.
  EXPECT_EQ(judge_commits({{10, 0}, {10, 5}, {10, 5}, {10, 5}, {10, 5}}),
            LagStatus::kStall);
}

// Burrow: "offsets move but lag fixed or increasing" is WARN; a lag that
// never changes is not keeping pace.
TEST(LagEvaluator, WarnsWhenOffsetsMoveButTheLagStaysFixed) {
  EXPECT_EQ(judge({{100, 500}, {200, 500}, {300, 500}, {400, 500}}),
            LagStatus::kWarn);
}

// A committed offset that goes backwards is REWIND, worse than a stall.
TEST(LagEvaluator, RewindWhenTheCommittedOffsetGoesBackwards) {
  EXPECT_EQ(judge({{100, 50}, {200, 60}, {150, 120}}), LagStatus::kRewind);
  EXPECT_EQ(vigil::kafka::health_verdict(LagStatus::kRewind),
            vigil::HealthVerdict::kFail);
  // A rewind while caught up is a replay the consumer already finished.
  EXPECT_EQ(judge({{100, 50}, {200, 0}, {150, 120}}), LagStatus::kOk);
}

// The window counts commits, not samples: a group that commits every 100 s,
// sampled every 10 s, shows the same offset in 10 samples in a row, which
// is neither a stall nor a stop.
TEST(LagEvaluator, CountsTheWindowInCommitsNotSamples) {
  LagEvaluator evaluator;  // window 10, stop_after 5 min
  const std::int64_t lags[] = {40, 70, 30, 90, 50, 60, 20, 80, 40, 70, 30, 60};
  for (int s = 0; s <= 1150; s += 10) {
    const int k = s / 100;  // the commit the consumer made last
    const std::int64_t committed = 1000 * k;
    evaluator.add(committed, lags[k] + (s % 100) / 10, at(s));
    ASSERT_EQ(evaluator.status(at(s)), LagStatus::kOk) << "at " << s << " s";
  }
}

// STOP: no commit for longer than the window spans (Burrow's rule), so a
// slow committer is not stopped after one interval of silence.
TEST(LagEvaluator, StopsWhenSilenceExceedsTheWindowsSpan) {
  vigil::kafka::LagEvaluatorOptions options = window_of(4);
  options.stop_after = seconds(1);  // the floor does not decide here
  LagEvaluator evaluator(options);
  for (int s = 0; s <= 300; s += 100) evaluator.add(s, 400 - s, at(s));
  // Commits at 0..300 s span 300 s; at 600 s it has been silent for 300 s.
  evaluator.add(300, 500, at(600));
  EXPECT_EQ(evaluator.status(at(600)), LagStatus::kOk);
  evaluator.add(300, 510, at(610));
  EXPECT_EQ(evaluator.status(at(610)), LagStatus::kStop);
  EXPECT_EQ(vigil::kafka::group_status(evaluator.status(at(610))),
            vigil::kafka::GroupLagStatus::kErr);
}

// A consumer that caught up and then died has only zero-lag commits in its
// window; STOP is judged before them, once messages have waited stop_after.
TEST(LagEvaluator, StopsAfterCatchingUpAndDying) {
  LagEvaluator evaluator(window_of(4));
  for (int s = 0; s <= 30; s += 10) evaluator.add(s, 0, at(s));
  evaluator.add(30, 0, at(1000));   // quiet topic, nothing to do
  evaluator.add(30, 12, at(1010));  // messages arrive; no commit follows
  EXPECT_EQ(evaluator.status(at(1010)), LagStatus::kOk);
  evaluator.add(30, 80, at(1400));
  EXPECT_EQ(evaluator.status(at(1400)), LagStatus::kStop);
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
  EXPECT_EQ(vigil::kafka::health_verdict(LagStatus::kRewind),
            vigil::HealthVerdict::kFail);
  EXPECT_STREQ(vigil::kafka::to_string(LagStatus::kStall), "stall");
  EXPECT_STREQ(vigil::kafka::to_string(LagStatus::kRewind), "rewind");
  EXPECT_STREQ(vigil::kafka::to_string(vigil::kafka::GroupLagStatus::kErr),
               "err");
  for (LagStatus s :
       {LagStatus::kStall, LagStatus::kStop, LagStatus::kRewind}) {
    EXPECT_EQ(vigil::kafka::group_status(s),
              vigil::kafka::GroupLagStatus::kErr);
  }
  EXPECT_EQ(vigil::kafka::group_status(LagStatus::kWarn),
            vigil::kafka::GroupLagStatus::kWarn);
}

}  // namespace
