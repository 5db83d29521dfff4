#include "delivery_scheduler.hpp"

#include <algorithm>

namespace chat {

DeliveryScheduler::DeliveryScheduler(DeliverySchedulerOptions options)
    : options_{std::max<std::size_t>(options.max_in_flight, 1),
               options.max_held} {}

bool DeliveryScheduler::has_room() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_count_ < options_.max_held;
}

bool DeliveryScheduler::add(OutboundMessage message) {
  std::lock_guard<std::mutex> lock(mutex_);
  Partition& partition = partitions_[message.partition];
  const Key key{message.partition, message.offset};
  const std::string conversation = message.conversation_id;
  Held held;
  held.id = next_id_++;
  held.message = std::move(message);
  held.reported = forwarding_later_;
  if (!partition.held.emplace(key.second, std::move(held)).second) {
    return false;  // read twice (a rebalance replayed it): already held
  }
  partition.next = std::max(partition.next, key.second + 1);
  conversations_[conversation].push_back(key);
  ++held_count_;
  if (forwarding_later_) ++pending_;
  wake_.notify_all();
  return forwarding_later_;
}

std::optional<DeliveryTicket> DeliveryScheduler::try_take(
    Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  return try_take_locked(now, nullptr);
}

std::optional<DeliveryTicket> DeliveryScheduler::take() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (stopped_) return std::nullopt;
    Clock::time_point next_due = Clock::time_point::max();
    if (auto ticket = try_take_locked(Clock::now(), &next_due)) return ticket;
    if (next_due == Clock::time_point::max()) {
      wake_.wait(lock);
    } else {
      wake_.wait_until(lock, next_due);
    }
  }
}

std::optional<DeliveryTicket> DeliveryScheduler::try_take_locked(
    Clock::time_point now, Clock::time_point* next_due) {
  // Delivered-but-uncommitted messages count against the window too: they
  // are what a crash would send again.
  if (stopped_ || in_flight_ + done_uncommitted_ >= options_.max_in_flight) {
    return std::nullopt;
  }
  Held* best = nullptr;
  for (const auto& [conversation, queue] : conversations_) {
    if (queue.empty()) continue;
    Held& head = partitions_[queue.front().first].held[queue.front().second];
    if (head.in_flight) continue;
    if (head.due > now) {
      if (next_due != nullptr) *next_due = std::min(*next_due, head.due);
      continue;
    }
    if (best == nullptr || head.id < best->id) best = &head;  // oldest first
  }
  if (best == nullptr) return std::nullopt;
  best->in_flight = true;
  ++in_flight_;
  return DeliveryTicket{best->id, best->message, best->attempts};
}

void DeliveryScheduler::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
  wake_.notify_all();
}

DeliveryScheduler::Held* DeliveryScheduler::find_locked(
    const DeliveryTicket& ticket) {
  const auto partition = partitions_.find(ticket.message.partition);
  if (partition != partitions_.end()) {
    const auto held = partition->second.held.find(ticket.message.offset);
    if (held != partition->second.held.end() && held->second.id == ticket.id &&
        held->second.in_flight) {
      return &held->second;
    }
  }
  // Its partition was dropped while it was out.
  if (orphans_.erase(ticket.id) > 0) --in_flight_;
  wake_.notify_all();
  return nullptr;
}

void DeliveryScheduler::delivered(const DeliveryTicket& ticket) {
  std::lock_guard<std::mutex> lock(mutex_);
  Held* held = find_locked(ticket);
  if (held == nullptr) return;
  held->in_flight = false;
  held->done = true;
  --in_flight_;
  ++done_uncommitted_;
  if (held->reported) --pending_;
  auto& queue = conversations_[held->message.conversation_id];
  queue.pop_front();  // the head: only a conversation's head goes out
  if (queue.empty()) conversations_.erase(held->message.conversation_id);
  forwarding_later_ = false;
  wake_.notify_all();
}

std::vector<OutboundMessage> DeliveryScheduler::deferred(
    const DeliveryTicket& ticket, Clock::time_point retry_at) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<OutboundMessage> to_report;
  Held* held = find_locked(ticket);
  if (held == nullptr) return to_report;
  held->in_flight = false;
  held->due = retry_at;
  ++held->attempts;
  --in_flight_;
  forwarding_later_ = true;
  for (auto& [id, partition] : partitions_) {
    for (auto& [offset, other] : partition.held) {
      if (other.done || other.reported) continue;
      other.reported = true;
      ++pending_;
      to_report.push_back(other.message);
    }
  }
  wake_.notify_all();
  return to_report;
}

std::map<int, std::int64_t> DeliveryScheduler::commits() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<int, std::int64_t> out;
  for (const auto& [id, partition] : partitions_) {
    // Reported until committed() confirms it, so a failed commit is retried.
    if (partition.held.empty() || !partition.held.begin()->second.done) {
      continue;
    }
    std::int64_t offset = partition.next;
    for (const auto& [at, held] : partition.held) {
      if (!held.done) {
        offset = at;
        break;
      }
    }
    out[id] = offset;
  }
  return out;
}

void DeliveryScheduler::committed(int partition_id, std::int64_t offset) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto partition = partitions_.find(partition_id);
  if (partition == partitions_.end()) return;
  auto& held = partition->second.held;
  while (!held.empty() && held.begin()->first < offset &&
         held.begin()->second.done) {
    held.erase(held.begin());
    --done_uncommitted_;
    --held_count_;
  }
  wake_.notify_all();
}

void DeliveryScheduler::drop_partition(int partition_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto partition = partitions_.find(partition_id);
  if (partition == partitions_.end()) return;
  for (auto& [offset, held] : partition->second.held) {
    --held_count_;
    if (held.done) {
      --done_uncommitted_;
      continue;
    }
    if (held.reported) --pending_;
    if (held.in_flight) orphans_.insert(held.id);
  }
  for (auto it = conversations_.begin(); it != conversations_.end();) {
    auto& queue = it->second;
    queue.erase(std::remove_if(
                    queue.begin(), queue.end(),
                    [&](const Key& key) { return key.first == partition_id; }),
                queue.end());
    it = queue.empty() ? conversations_.erase(it) : std::next(it);
  }
  partitions_.erase(partition);
  wake_.notify_all();
}

std::size_t DeliveryScheduler::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_;
}

std::size_t DeliveryScheduler::held() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_count_;
}

}  // namespace chat
