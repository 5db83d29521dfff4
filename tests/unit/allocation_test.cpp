// What the hot paths promise: no allocation once a series exists, and none
// for label sets sent to the overflow series once a family is full (issue
// 16: each of those took the family's mutex and allocated). Counted by
// replacing the global allocation functions for this binary; only
// allocations made by the counting thread inside a Count scope are counted.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "vigil/registry.hpp"

namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;

// Allocations on this thread while it lives.
class Count {
 public:
  Count() {
    allocations = 0;
    counting = true;
  }
  ~Count() { counting = false; }
  std::size_t operator()() const { return allocations; }
};
}  // namespace

// The replacements pair malloc with free, which GCC cannot see through.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  if (counting) ++allocations;
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace {

TEST(Allocation, LookingUpAndUpdatingAnExistingSeriesAllocatesNothing) {
  vigil::Registry registry;
  auto& family = registry.histogram("rpc_seconds", "Rpc.", {"method"});
  family.with({"get"}).observe(0.1);  // creates it and its cells
  Count count;
  for (int i = 0; i < 1000; ++i) family.with({"get"}).observe(0.2);
  EXPECT_EQ(count(), 0u);
}

TEST(Allocation, LabelSetsSentToTheOverflowSeriesAllocateNothing) {
  vigil::Registry registry;
  auto& family = registry.counter("req_total", "Req.", {"id"}, {"", 2});
  family.with({"a"}).inc();
  family.with({"b"}).inc();
  family.with({"first-miss"}).inc();  // creates the overflow series
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back("id-" + std::to_string(i));
  {
    Count count;
    for (const std::string& id : ids) family.with({id}).inc();
    EXPECT_EQ(count(), 0u);
  }
  EXPECT_EQ(family.dropped(), 1001u);
  EXPECT_EQ(family.with({"another"}).value(), 1001);
  EXPECT_EQ(family.series_count(), 3u);
}

// Lock-free, not just allocation-free: with the family's creation lock
// held elsewhere, lookups of existing series and of label sets bound for
// the overflow series still complete.
TEST(Allocation, OverflowLookupsNeverWaitForTheFamilyLock) {
  vigil::Registry registry;
  auto& family = registry.counter("req_total", "Req.", {"id"}, {"", 1});
  family.with({"a"}).inc();
  family.with({"first-miss"}).inc();
  std::unique_lock<std::mutex> held(family.creation_mutex());
  auto lookups = std::async(std::launch::async, [&] {
    for (int i = 0; i < 1000; ++i) {
      family.with({"a"}).inc();
      family.with({"id-" + std::to_string(i)}).inc();
    }
  });
  const auto status = lookups.wait_for(std::chrono::seconds(20));
  held.unlock();  // lets a blocked thread finish before the assertion
  lookups.wait();
  EXPECT_EQ(status, std::future_status::ready);
  EXPECT_EQ(family.with({"a"}).value(), 1001);
  EXPECT_EQ(family.dropped(), 1001u);
}

}  // namespace
