#pragma once
// Striped, single-writer counter cells: the storage behind every hot-path
// update. See docs/adr/0001-striped-single-writer-cells.md for the design.
//
// A CellArena hands out runs of cells. Each run exists once per *row*; a
// chunk stores its rows kChunkCells cells apart. Rows 0..stripes-1 are each
// owned by at most one live thread at a time (the thread's "row lease"), so an
// update there is a plain relaxed load + store: no lock prefix, no contended
// cache line. The last row is shared by threads that found no free row and is
// updated with atomic read-modify-write. Readers sum all rows.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "vigil/detail/compiler.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

using Cell = std::atomic<std::uint64_t>;

/// Cells per row in a chunk; also the distance between two rows of one run.
inline constexpr std::size_t kChunkCells = 512;
/// Upper bound on exclusive rows, whatever the machine: memory per series
/// grows with the row count (a default histogram takes 104 bytes a row).
inline constexpr unsigned kMaxStripes = 16;
/// Row tag of a thread that writes to the shared row.
inline constexpr unsigned kSharedRowTag = 0xFFFFu;

/// Number of exclusive rows, fixed for the process: twice the hardware
/// threads (services often run more threads than cores), a power of two in
/// [4, kMaxStripes].
inline unsigned stripe_count() noexcept {
  static const unsigned count = [] {
    unsigned hw = std::thread::hardware_concurrency();
    if (hw == 0) hw = 2;
    unsigned n = 4;
    while (n < 2 * hw && n < kMaxStripes) n <<= 1;
    return n;
  }();
  return count;
}

/// Hands out exclusive rows to threads. Never destroyed, because threads may
/// release their row after static destructors ran.
class RowAllocator {
 public:
  static RowAllocator& instance() {
    static RowAllocator* const allocator = new RowAllocator();
    return *allocator;
  }
  /// Returns a free row, or -1 when all are leased.
  int acquire() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t row = 0; row < used_.size(); ++row) {
      if (!used_[row]) {
        used_[row] = true;
        return static_cast<int>(row);
      }
    }
    return -1;
  }
  void release(int row) {
    std::lock_guard<std::mutex> lock(mutex_);
    used_[static_cast<std::size_t>(row)] = false;
  }

 private:
  RowAllocator() : used_(stripe_count(), false) {}
  std::mutex mutex_;
  std::vector<bool> used_;
};

/// 0: no row yet; r + 1: exclusive row r; kSharedRowTag: shared row.
/// Trivially initialised so the hot path reads it without a TLS guard.
inline thread_local unsigned tls_row_tag = 0;

struct RowLease {
  int row = -1;
  RowLease() : row(RowAllocator::instance().acquire()) {}
  RowLease(const RowLease&) = delete;
  RowLease& operator=(const RowLease&) = delete;
  ~RowLease() {
    // Updates made after this (from later thread_local destructors) go to
    // the shared row; the mutex in release() orders our last stores before
    // the next owner's first load.
    tls_row_tag = kSharedRowTag;
    if (row >= 0) RowAllocator::instance().release(row);
  }
};

VIGIL_NOINLINE inline unsigned assign_row_tag() {
  static thread_local RowLease lease;
  tls_row_tag =
      lease.row >= 0 ? static_cast<unsigned>(lease.row) + 1 : kSharedRowTag;
  return tls_row_tag;
}

/// The calling thread's exclusive copy of the run starting at `base`, or
/// nullptr when the thread must use shared_run().
inline Cell* exclusive_run(Cell* base) noexcept {
  unsigned tag = tls_row_tag;
  if (VIGIL_UNLIKELY(tag - 1 >= kMaxStripes)) {
    if (tag == kSharedRowTag) return nullptr;
    tag = assign_row_tag();
    if (tag == kSharedRowTag) return nullptr;
  }
  return base + static_cast<std::size_t>(tag - 1) * kChunkCells;
}

inline Cell* shared_run(Cell* base) noexcept {
  return base + static_cast<std::size_t>(stripe_count()) * kChunkCells;
}

inline double bits_to_double(std::uint64_t bits) noexcept {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}
inline std::uint64_t double_to_bits(double d) noexcept {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return bits;
}

inline double load_double(const Cell& cell) noexcept {
  return bits_to_double(cell.load(std::memory_order_relaxed));
}
inline void store_double(Cell& cell, double v) noexcept {
  cell.store(double_to_bits(v), std::memory_order_relaxed);
}
/// Single writer: no read-modify-write needed.
inline void add_exclusive(Cell& cell, double v) noexcept {
  store_double(cell, load_double(cell) + v);
}
inline void add_exclusive(Cell& cell, std::uint64_t v) noexcept {
  cell.store(cell.load(std::memory_order_relaxed) + v,
             std::memory_order_relaxed);
}
inline void add_shared(Cell& cell, double v) noexcept {
  std::uint64_t old = cell.load(std::memory_order_relaxed);
  while (!cell.compare_exchange_weak(old,
                                     double_to_bits(bits_to_double(old) + v),
                                     std::memory_order_relaxed)) {
  }
}
inline void add_shared(Cell& cell, std::uint64_t v) noexcept {
  cell.fetch_add(v, std::memory_order_relaxed);
}

/// Sum of cell `index` of a run over all rows.
inline double sum_double(const Cell* base, std::size_t index) noexcept {
  double sum = 0;
  const unsigned rows = stripe_count() + 1;
  for (unsigned r = 0; r < rows; ++r) {
    sum += load_double(base[r * kChunkCells + index]);
  }
  return sum;
}
inline std::uint64_t sum_u64(const Cell* base, std::size_t index) noexcept {
  std::uint64_t sum = 0;
  const unsigned rows = stripe_count() + 1;
  for (unsigned r = 0; r < rows; ++r) {
    sum += base[r * kChunkCells + index].load(std::memory_order_relaxed);
  }
  return sum;
}

/// Allocates runs of zeroed cells. Runs never move and live as long as the
/// arena. allocate() locks; it is only called when a series is created.
class CellArena {
 public:
  /// Longest run a single series may take.
  static constexpr std::size_t kMaxRun = kChunkCells;

  CellArena() = default;
  CellArena(const CellArena&) = delete;
  CellArena& operator=(const CellArena&) = delete;

  Cell* allocate(std::size_t cells) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (chunks_.empty() || used_ + cells > kChunkCells) {
      chunks_.push_back(new_chunk());
      used_ = 0;
    }
    Cell* run = chunks_.back().get() + used_;
    used_ += cells;
    return run;
  }

  /// Bytes held by the arena (for memory accounting).
  std::size_t bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return chunks_.size() * chunk_cells() * sizeof(Cell);
  }

 private:
  struct AlignedDelete {
    void operator()(Cell* p) const noexcept {
      ::operator delete(p, std::align_val_t(64));
    }
  };
  using Chunk = std::unique_ptr<Cell[], AlignedDelete>;

  static std::size_t chunk_cells() {
    return (static_cast<std::size_t>(stripe_count()) + 1) * kChunkCells;
  }
  static Chunk new_chunk() {
    const std::size_t n = chunk_cells();
    // 64-byte alignment keeps rows of different threads off shared lines.
    auto* raw = static_cast<Cell*>(
        ::operator new(n * sizeof(Cell), std::align_val_t(64)));
    for (std::size_t i = 0; i < n; ++i) new (raw + i) Cell(0);
    return Chunk(raw);
  }

  mutable std::mutex mutex_;
  std::vector<Chunk> chunks_;
  std::size_t used_ = 0;
};

}  // namespace detail
VIGIL_NAMESPACE_END
