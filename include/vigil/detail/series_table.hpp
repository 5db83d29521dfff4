#pragma once
// The label-set → series map of a family: open addressing, insert-only,
// lock-free readers, one writer at a time (the family's mutex).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/detail/cells.hpp"
#include "vigil/detail/label_values.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// One series of a family. Records are never freed while the family lives,
/// because lookups read them without a lock; a removed series stays in the
/// table, not exported and not counted, until its label set is added again.
struct Series {
  Series(std::size_t h, const std::vector<std::string>& names,
         const std::string_view* values, std::size_t n)
      : hash(h), labels(names, values, n) {}

  const std::size_t hash;
  const LabelValues labels;
  SeriesCells cells;
  /// False from remove() until the label set is looked up again.
  std::atomic<bool> live{true};

  bool matches(std::size_t h, const std::string_view* values,
               std::size_t n) const {
    return h == hash && labels.equals(values, n);
  }
};

inline std::size_t hash_label_values(const std::string_view* values,
                                     std::size_t n) {
  std::size_t h = 0x9e3779b97f4a7c15ULL ^ n;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= std::hash<std::string_view>{}(values[i]) + 0x9e3779b97f4a7c15ULL +
         (h << 6) + (h >> 2);
  }
  return h;
}

class SeriesTable {
 public:
  SeriesTable() { publish(std::make_unique<Table>(16)); }
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  /// Lock-free and allocation-free; may miss a series inserted concurrently.
  Series* find(std::size_t hash, const std::string_view* values,
               std::size_t n) const {
    const Table* table = current_.load(std::memory_order_acquire);
    for (std::size_t i = hash & table->mask;; i = (i + 1) & table->mask) {
      Series* s = table->slots[i].load(std::memory_order_acquire);
      if (s == nullptr) return nullptr;
      if (s->matches(hash, values, n)) return s;
    }
  }

  /// Writer only (caller holds the family mutex). Takes ownership.
  Series* insert(std::unique_ptr<Series> series) {
    Table* table = current_.load(std::memory_order_relaxed);
    const std::size_t n = table->size.load(std::memory_order_relaxed);
    if (2 * (n + 1) > table->mask + 1) {
      auto bigger = std::make_unique<Table>(2 * (table->mask + 1));
      for (std::size_t i = 0; i < n; ++i) {
        Series* s = table->order[i].load(std::memory_order_relaxed);
        bigger->place(s);
        bigger->order[i].store(s, std::memory_order_relaxed);
      }
      bigger->size.store(n, std::memory_order_relaxed);
      table = publish(std::move(bigger));
    }
    Series* s = series.get();
    owned_.push_back(std::move(series));
    table->order[n].store(s, std::memory_order_relaxed);
    table->place(s);
    table->size.store(n + 1, std::memory_order_release);
    return s;
  }

  /// Visits series in insertion order; sees every series inserted before
  /// the call started.
  template <class F>
  void for_each(F&& visit) const {
    const Table* table = current_.load(std::memory_order_acquire);
    const std::size_t n = table->size.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) {
      visit(*table->order[i].load(std::memory_order_relaxed));
    }
  }

  std::size_t size() const {
    return current_.load(std::memory_order_acquire)
        ->size.load(std::memory_order_acquire);
  }

 private:
  struct Table {
    explicit Table(std::size_t capacity)
        : mask(capacity - 1),
          slots(new std::atomic<Series*>[capacity]()),
          order(new std::atomic<Series*>[capacity / 2]()) {}
    void place(Series* s) {
      std::size_t i = s->hash & mask;
      while (slots[i].load(std::memory_order_relaxed) != nullptr) {
        i = (i + 1) & mask;
      }
      slots[i].store(s, std::memory_order_release);
    }
    const std::size_t mask;
    std::unique_ptr<std::atomic<Series*>[]> slots;
    std::unique_ptr<std::atomic<Series*>[]> order;
    std::atomic<std::size_t> size{0};
  };

  Table* publish(std::unique_ptr<Table> table) {
    Table* raw = table.get();
    // Retired tables stay alive: a reader may still be probing one.
    tables_.push_back(std::move(table));
    current_.store(raw, std::memory_order_release);
    return raw;
  }

  std::atomic<Table*> current_{nullptr};
  std::vector<std::unique_ptr<Table>> tables_;
  std::vector<std::unique_ptr<Series>> owned_;
};

}  // namespace detail
VIGIL_NAMESPACE_END
