// The connector's delivery rules without sockets: per-conversation order,
// the in-flight window, offsets never committed past an undelivered message,
// and PENDING reporting while storing and forwarding.
#include "delivery_scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using chat::DeliveryScheduler;
using chat::DeliveryTicket;
using chat::OutboundMessage;
using Clock = DeliveryScheduler::Clock;

OutboundMessage message(int partition, std::int64_t offset,
                        const std::string& conversation) {
  return {partition, offset, conversation,
          "m-" + std::to_string(partition) + "-" + std::to_string(offset),
          "{}"};
}

const Clock::time_point kNow{};  // the tests' fixed "now"

TEST(DeliveryScheduler, OneMessagePerConversationAtATimeInOrder) {
  DeliveryScheduler s({8, 100});
  s.add(message(0, 0, "a"));
  s.add(message(0, 1, "a"));
  s.add(message(0, 2, "b"));
  auto first = s.try_take(kNow);
  auto second = s.try_take(kNow);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->message.offset, 0);
  EXPECT_EQ(second->message.offset, 2);  // a's next waits for a's first
  EXPECT_FALSE(s.try_take(kNow));
  s.delivered(*first);
  auto third = s.try_take(kNow);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->message.offset, 1);
}

TEST(DeliveryScheduler, InFlightWindowCountsUncommittedDeliveries) {
  DeliveryScheduler s({2, 100});
  for (int i = 0; i < 4; ++i) s.add(message(0, i, "c" + std::to_string(i)));
  auto a = s.try_take(kNow);
  auto b = s.try_take(kNow);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(s.try_take(kNow)) << "two out: the window is full";
  s.delivered(*a);
  EXPECT_FALSE(s.try_take(kNow))
      << "delivered but uncommitted still counts: a crash would resend it";
  const auto commits = s.commits();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits.at(0), 1);  // offset 1 is still out
  s.committed(0, 1);
  EXPECT_TRUE(s.try_take(kNow));
}

TEST(DeliveryScheduler, NeverCommitsPastAnUndeliveredMessage) {
  DeliveryScheduler s({8, 100});
  s.add(message(3, 10, "slow"));
  s.add(message(3, 11, "fast"));
  s.add(message(3, 12, "fast"));
  auto slow = s.try_take(kNow);
  auto fast = s.try_take(kNow);
  ASSERT_TRUE(slow && fast);
  s.delivered(*fast);
  fast = s.try_take(kNow);
  ASSERT_TRUE(fast);
  s.delivered(*fast);
  EXPECT_TRUE(s.commits().empty()) << "offset 10 is not delivered";
  s.delivered(*slow);
  EXPECT_EQ(s.commits().at(3), 13);
  s.committed(3, 13);
  EXPECT_TRUE(s.commits().empty());
  EXPECT_EQ(s.held(), 0u);
}

TEST(DeliveryScheduler, FailedCommitIsOfferedAgain) {
  DeliveryScheduler s({8, 100});
  s.add(message(0, 5, "a"));
  s.delivered(*s.try_take(kNow));
  EXPECT_EQ(s.commits().at(0), 6);
  EXPECT_EQ(s.commits().at(0), 6) << "not confirmed yet";
  s.committed(0, 6);
  EXPECT_TRUE(s.commits().empty());
}

TEST(DeliveryScheduler, DeferredMessageStaysFirstAndIsDueLater) {
  DeliveryScheduler s({8, 100});
  s.add(message(0, 0, "a"));
  s.add(message(0, 1, "a"));
  auto ticket = s.try_take(kNow);
  const auto later = kNow + std::chrono::seconds(1);
  s.deferred(*ticket, later);
  EXPECT_FALSE(s.try_take(kNow)) << "not due, and a's second must wait";
  auto again = s.try_take(later);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->message.offset, 0);
  EXPECT_EQ(again->attempts, 1u);
}

TEST(DeliveryScheduler, ReportsEveryHeldMessagePendingOnceWhileForwarding) {
  DeliveryScheduler s({8, 100});
  EXPECT_FALSE(s.add(message(0, 0, "a")));
  EXPECT_FALSE(s.add(message(0, 1, "a")));
  EXPECT_FALSE(s.add(message(1, 0, "b")));
  auto ticket = s.try_take(kNow);
  auto reported = s.deferred(*ticket, kNow);
  EXPECT_EQ(reported.size(), 3u);
  EXPECT_EQ(s.pending(), 3u);
  EXPECT_TRUE(s.add(message(1, 1, "b"))) << "new arrivals are pending at once";
  EXPECT_EQ(s.pending(), 4u);
  ticket = s.try_take(kNow);
  EXPECT_TRUE(s.deferred(*ticket, kNow).empty()) << "each reported once";
  ticket = s.try_take(kNow);
  s.delivered(*ticket);
  EXPECT_EQ(s.pending(), 3u);
  EXPECT_FALSE(s.add(message(1, 2, "b"))) << "delivering again: not pending";
}

TEST(DeliveryScheduler, HeldLimitAsksTheReaderToPause) {
  DeliveryScheduler s({8, 2});
  s.add(message(0, 0, "a"));
  EXPECT_TRUE(s.has_room());
  s.add(message(0, 1, "b"));
  EXPECT_FALSE(s.has_room());
  s.delivered(*s.try_take(kNow));
  EXPECT_FALSE(s.has_room()) << "held until committed";
  s.committed(0, 1);
  EXPECT_TRUE(s.has_room());
}

TEST(DeliveryScheduler, DroppedPartitionForgetsItsMessagesAndTickets) {
  DeliveryScheduler s({1, 100});
  s.add(message(0, 0, "a"));
  s.add(message(1, 0, "b"));
  auto out = s.try_take(kNow);
  ASSERT_TRUE(out);
  s.drop_partition(out->message.partition);
  EXPECT_FALSE(s.try_take(kNow)) << "its ticket still occupies the window";
  s.delivered(*out);  // ignored, but frees the slot
  auto next = s.try_take(kNow);
  ASSERT_TRUE(next);
  EXPECT_NE(next->message.partition, out->message.partition);
  EXPECT_EQ(s.commits().count(out->message.partition), 0u);
  EXPECT_EQ(s.held(), 1u);
}

TEST(DeliveryScheduler, StopWakesWaitingWorkers) {
  DeliveryScheduler s({4, 100});
  std::thread worker([&] { EXPECT_FALSE(s.take()); });
  s.stop();
  worker.join();
}

// Many workers at once (run under TSan): every message delivered exactly
// once, each conversation in offset order, never more than the window out.
TEST(DeliveryScheduler, ConcurrentWorkersKeepConversationOrder) {
  constexpr int kConversations = 10;
  constexpr int kMessages = 2000;
  constexpr std::size_t kWindow = 8;
  DeliveryScheduler s({kWindow, 100000});
  for (int i = 0; i < kMessages; ++i) {
    s.add(message(i % 3, i, "c" + std::to_string(i % kConversations)));
  }
  std::mutex mutex;
  std::map<std::string, std::vector<std::int64_t>> seen;
  std::atomic<std::size_t> out{0};
  std::atomic<std::size_t> most_out{0};
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w) {
    workers.emplace_back([&] {
      while (auto ticket = s.take()) {
        const std::size_t now_out = ++out;
        std::size_t most = most_out.load();
        while (now_out > most &&
               !most_out.compare_exchange_weak(most, now_out)) {
        }
        {
          std::lock_guard<std::mutex> lock(mutex);
          seen[ticket->message.conversation_id].push_back(
              ticket->message.offset);
        }
        --out;
        // Every third first attempt fails once: it must still come first.
        if (ticket->attempts == 0 && ticket->message.offset % 3 == 0) {
          s.deferred(*ticket, Clock::now());
        } else {
          s.delivered(*ticket);
          ++done;
        }
      }
    });
  }
  // The reader's part: commit what is committable until all is delivered.
  while (done < kMessages) {
    for (const auto& [partition, offset] : s.commits()) {
      s.committed(partition, offset);
    }
    std::this_thread::yield();
  }
  s.stop();
  for (auto& w : workers) w.join();
  EXPECT_LE(most_out.load(), kWindow);
  int total = 0;
  for (const auto& [conversation, offsets] : seen) {
    std::vector<std::int64_t> delivered;
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      // A deferred try is followed by the same message again.
      if (i + 1 < offsets.size() && offsets[i + 1] == offsets[i]) continue;
      delivered.push_back(offsets[i]);
    }
    EXPECT_TRUE(std::is_sorted(delivered.begin(), delivered.end()))
        << conversation;
    total += static_cast<int>(delivered.size());
  }
  EXPECT_EQ(total, kMessages);
}

}  // namespace
