#pragma once
// The circuit breaker's sliding windows: the last N calls, or the calls of
// the last span of time. Lock-free, so the closed hot path takes no lock.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// Bits of one recorded call.
inline constexpr std::uint8_t kCallRecorded = 1;
inline constexpr std::uint8_t kCallFailed = 2;
inline constexpr std::uint8_t kCallSlow = 4;

struct WindowCounts {
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
  std::uint64_t slow = 0;
};

/// The last N calls as one byte each. Recording is a compare-and-swap on the
/// cursor and a store, so the closed hot path stays lock-free; the counts
/// are only needed while the window holds a failure or slow call, and then
/// a scan of N bytes is cheap next to a dependency that is failing. Keeping
/// no running totals means a concurrent reset can never leave them skewed.
///
/// Once the last N calls were all fast successes, another one changes no
/// count, so it is not recorded at all: the steady state of a healthy
/// dependency writes nothing shared, and threads do not contend on the
/// cursor.
class CountWindow {
 public:
  explicit CountWindow(std::uint32_t size)
      : size_(size), slots_(new std::atomic<std::uint8_t>[size]) {
    reset();
  }

  /// Returns false when the success was not recorded because the window
  /// holds only fast successes, so its rates are zero.
  bool record_success() noexcept {
    std::uint32_t pending = pending_.load(std::memory_order_relaxed);
    if (pending == 0) return false;
    record(kCallRecorded);
    while (pending > 0 &&
           !pending_.compare_exchange_weak(pending, pending - 1,
                                           std::memory_order_relaxed)) {
    }
    return true;
  }

  /// A failed or slow call: it stays in the window for the next N calls.
  void record_other(std::uint8_t bits) noexcept {
    record(bits);
    pending_.store(size_, std::memory_order_relaxed);
  }

  WindowCounts counts() const noexcept {
    WindowCounts c;
    for (std::uint32_t i = 0; i < size_; ++i) {
      const std::uint8_t bits = slots_[i].load(std::memory_order_relaxed);
      c.calls += bits & kCallRecorded;
      c.failures += (bits & kCallFailed) != 0;
      c.slow += (bits & kCallSlow) != 0;
    }
    return c;
  }

  void reset() noexcept {
    for (std::uint32_t i = 0; i < size_; ++i) {
      slots_[i].store(0, std::memory_order_relaxed);
    }
    cursor_.store(0, std::memory_order_relaxed);
    pending_.store(size_, std::memory_order_relaxed);
  }

 private:
  void record(std::uint8_t bits) noexcept {
    std::uint32_t i = cursor_.load(std::memory_order_relaxed);
    while (!cursor_.compare_exchange_weak(i, i + 1 == size_ ? 0 : i + 1,
                                          std::memory_order_relaxed)) {
    }
    slots_[i].store(bits, std::memory_order_relaxed);
  }

  const std::uint32_t size_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> slots_;
  std::atomic<std::uint32_t> cursor_{0};
  // Calls still to record before the window holds only fast successes; read
  // by every success, so kept off the cursor's cache line.
  alignas(64) std::atomic<std::uint32_t> pending_{0};
};

/// The calls of the last `span` in kBuckets buckets. A bucket is three
/// words (fast or slow successes, failures, slow calls), each tagged with
/// the tick it counts for and updated by CAS, so recording stays lock-free
/// and a word is recycled atomically when its tick comes round again. Calls
/// are the successes plus the failures, so a failure always counts: no cap
/// on one count can hide another. A count saturates at 2^32 - 1 per tenth
/// of the window rather than wrapping.
class TimeWindow {
 public:
  static constexpr std::uint64_t kBuckets = 10;

  explicit TimeWindow(std::chrono::nanoseconds span)
      : bucket_ns_(std::max<std::int64_t>(
            1, span.count() / static_cast<std::int64_t>(kBuckets))) {}

  void record(std::uint8_t bits, std::int64_t now_ns) noexcept {
    const std::uint64_t t = tick(now_ns);
    Bucket& bucket = buckets_[t % kBuckets];
    add(bits & kCallFailed ? bucket.failed : bucket.succeeded, t);
    if (bits & kCallSlow) add(bucket.slow, t);
  }

  WindowCounts counts(std::int64_t now_ns) const noexcept {
    const std::uint64_t now = tick(now_ns);
    WindowCounts c;
    for (const Bucket& bucket : buckets_) {
      const std::uint64_t failed = fresh(bucket.failed, now);
      c.calls += fresh(bucket.succeeded, now) + failed;
      c.failures += failed;
      c.slow += fresh(bucket.slow, now);
    }
    return c;
  }

  void reset() noexcept {
    for (Bucket& bucket : buckets_) {
      bucket.succeeded.store(0, std::memory_order_relaxed);
      bucket.failed.store(0, std::memory_order_relaxed);
      bucket.slow.store(0, std::memory_order_relaxed);
    }
  }

 private:
  // A word: the tick it counts for (mod 2^32) above, the count below.
  static constexpr unsigned kCountBits = 32;
  static constexpr std::uint64_t kMask = (std::uint64_t{1} << kCountBits) - 1;

  struct Bucket {
    std::atomic<std::uint64_t> succeeded{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> slow{0};
  };

  static void add(std::atomic<std::uint64_t>& word, std::uint64_t t) noexcept {
    const std::uint64_t tag = t & kMask;
    std::uint64_t w = word.load(std::memory_order_relaxed);
    std::uint64_t next;
    do {
      if ((w >> kCountBits) != tag) {
        next = (tag << kCountBits) | 1;  // a new tick: recycle the word
      } else if ((w & kMask) == kMask) {
        return;  // saturated
      } else {
        next = w + 1;
      }
    } while (!word.compare_exchange_weak(w, next, std::memory_order_relaxed));
  }

  // The word's count if it belongs to one of the last kBuckets ticks.
  static std::uint64_t fresh(const std::atomic<std::uint64_t>& word,
                             std::uint64_t now) noexcept {
    const std::uint64_t w = word.load(std::memory_order_relaxed);
    const std::uint64_t age = (now - (w >> kCountBits)) & kMask;
    return age < kBuckets ? w & kMask : 0;
  }

  std::uint64_t tick(std::int64_t now_ns) const noexcept {
    return static_cast<std::uint64_t>(now_ns / bucket_ns_);
  }

  const std::int64_t bucket_ns_;
  std::array<Bucket, kBuckets> buckets_{};
};

}  // namespace detail
VIGIL_NAMESPACE_END
