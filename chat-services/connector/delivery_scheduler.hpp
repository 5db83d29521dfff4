#pragma once
// What a connector may deliver next and which offsets it may commit, without
// any I/O so the rules can be tested on their own:
//  - a conversation's messages go out one at a time, oldest first (they all
//    live on one partition, in order);
//  - at most `max_in_flight` messages are out at once, and at most that many
//    are delivered but not yet committed, so a crash re-sends at most
//    `max_in_flight` messages;
//  - a partition's offset is never committed past an undelivered message:
//    whatever is not delivered is read again after a restart (Kafka is the
//    store of store-and-forward).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace chat {

/// A message read from a connector's topic.
struct OutboundMessage {
  int partition = 0;
  std::int64_t offset = 0;
  std::string conversation_id;
  std::string message_id;
  std::string payload;  // the MessageEvent JSON
};

/// The right to deliver one message; hand it back through delivered(),
/// finished() or deferred().
struct DeliveryTicket {
  std::uint64_t id = 0;  // tells a ticket of a dropped partition apart
  OutboundMessage message;
  std::uint32_t attempts = 0;  // earlier deferrals of this message
};

struct DeliverySchedulerOptions {
  /// Deliveries out at once, and the most messages delivered but not
  /// committed (the re-send bound after a crash).
  std::size_t max_in_flight = 64;
  /// Messages held (read, not committed) before the reader should pause.
  std::size_t max_held = 10000;
};

/// Thread-safety: every member may be called from any thread; take() blocks
/// (until work, a deadline or stop()).
///
///     DeliveryScheduler scheduler({});
///     scheduler.add(message);                      // reader thread
///     while (auto ticket = scheduler.take()) {     // worker threads
///       send(ticket->message) ? scheduler.delivered(*ticket)
///                             : scheduler.deferred(*ticket, retry_at);
///     }
///     for (auto [partition, offset] : scheduler.commits()) ...  // reader
class DeliveryScheduler {
 public:
  using Clock = std::chrono::steady_clock;

  explicit DeliveryScheduler(DeliverySchedulerOptions options);

  /// Whether the reader may add more (fewer than max_held held).
  bool has_room() const;
  /// Holds a message read from `partition`. True when the connector is
  /// storing and forwarding (a delivery was deferred and none succeeded
  /// since): the caller reports it PENDING at once.
  bool add(OutboundMessage message);

  /// The next message due (see the class comment), or nullopt if none is
  /// due at `now`. Never blocks.
  std::optional<DeliveryTicket> try_take(Clock::time_point now);
  /// As try_take(), waiting until one is due or stop() is called (nullopt).
  std::optional<DeliveryTicket> take();
  /// Wakes every take() with nullopt, now and from then on.
  void stop();

  /// The message reached the platform: its conversation moves on.
  void delivered(const DeliveryTicket& ticket);
  /// The message will never be deliverable (rejected by the platform, or
  /// malformed): it is done with, like a delivered one.
  void finished(const DeliveryTicket& ticket) { delivered(ticket); }
  /// Not delivered now: stays first in its conversation and is due again at
  /// `retry_at`. Returns the held messages newly to report PENDING (this one
  /// and every other undelivered one not reported yet).
  std::vector<OutboundMessage> deferred(const DeliveryTicket& ticket,
                                        Clock::time_point retry_at);

  /// Per partition, the offset to commit (the first undelivered, or the one
  /// after the last read) where delivered messages wait for a commit; given
  /// again until committed() confirms it.
  std::map<int, std::int64_t> commits();
  /// The broker has `offset` for `partition`: forget what lies before it.
  void committed(int partition, std::int64_t offset);
  /// The partition is no longer ours: forget its messages; tickets out for
  /// them are ignored when handed back.
  void drop_partition(int partition);

  /// Messages reported PENDING and not delivered yet.
  std::size_t pending() const;
  /// Messages read and not committed.
  std::size_t held() const;

 private:
  struct Held {
    std::uint64_t id = 0;
    OutboundMessage message;
    bool done = false;      // delivered or finished
    bool reported = false;  // reported PENDING
    bool in_flight = false;
    std::uint32_t attempts = 0;
    Clock::time_point due{};  // not before
  };
  struct Partition {
    std::map<std::int64_t, Held> held;  // by offset
    std::int64_t next = -1;             // after the last read; -1: none
  };
  using Key = std::pair<int, std::int64_t>;  // partition, offset

  /// The held message a ticket is for; nullptr (and the ticket retired) if
  /// its partition was dropped meanwhile.
  Held* find_locked(const DeliveryTicket& ticket);
  std::optional<DeliveryTicket> try_take_locked(Clock::time_point now,
                                                Clock::time_point* next_due);

  const DeliverySchedulerOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
  bool forwarding_later_ = false;
  std::uint64_t next_id_ = 1;
  std::size_t in_flight_ = 0;
  std::size_t done_uncommitted_ = 0;
  std::size_t held_count_ = 0;
  std::size_t pending_ = 0;
  std::map<int, Partition> partitions_;
  std::set<std::uint64_t> orphans_;  // out when their partition was dropped
  // Per conversation, its undelivered messages oldest first.
  std::unordered_map<std::string, std::deque<Key>> conversations_;
};

}  // namespace chat
