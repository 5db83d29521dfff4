#pragma once
// Striped, single-writer counter cells: the storage behind every hot-path
// update. See docs/adr/0001-striped-single-writer-cells.md for the design.
//
// A CellArena hands out runs of cells. A striped run exists once per *row*;
// a chunk stores its rows kChunkCells cells apart. Rows 0..stripes-1 are
// each owned by at most one live thread at a time (the thread's "row lease"
// from the arena's RowTable), so an update there is a plain relaxed load +
// store: no lock prefix, no contended cache line. The last row is shared by
// threads that found no free row and is updated with atomic
// read-modify-write. Readers sum all rows.
//
// Most series are only ever written by one thread, so a series starts with a
// single "compact" row written by the first thread that updates it, and gets
// its striped run only when a second thread writes (SeriesCells).

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

/// The exclusive rows of one arena and the threads that lease them.
///
/// It lives in the arena, not in a header-level static, so that code in
/// every shared object (each with its own copy of vigil's inline statics
/// when built with -fvisibility=hidden) leases from the same table: two
/// threads never hold one row of a registry, whichever library they run.
/// A thread that asks again from another library gets the row it already
/// holds. Reference-counted by the arena and by every thread cache entry
/// naming it, so its address is not reused while a cache may still hold it.
class CellArena;

class RowTable {
 public:
  /// A table with one reference, owned by `arena`.
  static RowTable* create(CellArena* arena) {
    return new RowTable(stripe_count(), arena);
  }
  RowTable(const RowTable&) = delete;
  RowTable& operator=(const RowTable&) = delete;

  /// Cells from row 0 of a run to its shared row.
  std::size_t shared_offset() const noexcept {
    return static_cast<std::size_t>(stripes_) * kChunkCells;
  }

  /// The row the calling thread holds, taking one more reference to it, or
  /// a free row; -1 when all rows are leased to other threads.
  int acquire() {
    const std::thread::id self = std::this_thread::get_id();
    std::lock_guard<std::mutex> lock(mutex_);
    int free_row = -1;
    for (unsigned row = 0; row < stripes_; ++row) {
      Lease& lease = leases_[row];
      if (lease.refs != 0 && lease.owner == self) {
        ++lease.refs;
        return static_cast<int>(row);
      }
      if (lease.refs == 0 && free_row < 0) free_row = static_cast<int>(row);
    }
    if (free_row >= 0) leases_[free_row] = {self, 1};
    return free_row;
  }
  /// Drops one reference to `row`. The mutex orders the holder's last
  /// stores to the row before the next holder's first load.
  void release(int row) {
    std::lock_guard<std::mutex> lock(mutex_);
    --leases_[row].refs;
  }

  /// The arena whose rows this table leases. Only valid while the arena
  /// lives, which handles may rely on: they live no longer than it.
  CellArena* arena() const noexcept { return arena_; }

  /// Rows currently leased (for tests and diagnostics).
  unsigned leased() const {
    std::lock_guard<std::mutex> lock(mutex_);
    unsigned n = 0;
    for (unsigned row = 0; row < stripes_; ++row) n += leases_[row].refs != 0;
    return n;
  }

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void drop() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  RowTable(unsigned stripes, CellArena* arena)
      : stripes_(stripes), arena_(arena) {}
  ~RowTable() = default;

  struct Lease {
    std::thread::id owner;
    unsigned refs = 0;  // one per thread cache entry (per shared object)
  };
  const unsigned stripes_;
  CellArena* const arena_;
  std::atomic<std::size_t> refs_{1};
  mutable std::mutex mutex_;
  Lease leases_[kMaxStripes];
};

/// One entry of a thread's row cache: which table, and where the thread's
/// row is. `key` is the table's address, with bit 0 set when the thread
/// writes the table's shared row; 0 for an empty entry.
struct RowCacheEntry {
  std::uintptr_t key = 0;
  std::size_t offset = 0;  // cells from row 0 to the thread's row
};
inline constexpr std::size_t kRowCacheEntries = 4;

/// The calling thread's leases, most recently used first. Trivially
/// initialised so the hot path reads entry 0 without a TLS guard. Each
/// shared object may have its own copy; the leases live in the tables.
inline thread_local RowCacheEntry tls_row_cache[kRowCacheEntries];
/// Set once the thread's cache has been torn down at thread exit.
inline thread_local bool tls_row_cache_closed = false;

inline void release_entry(RowCacheEntry& entry) noexcept {
  if (entry.key == 0) return;
  auto* table = reinterpret_cast<RowTable*>(entry.key & ~std::uintptr_t{1});
  if ((entry.key & 1) == 0) {
    table->release(static_cast<int>(entry.offset / kChunkCells));
  }
  table->drop();
  entry = RowCacheEntry{};
}

/// Returns the thread's leases when it exits.
struct RowCacheOwner {
  RowCacheOwner() = default;
  RowCacheOwner(const RowCacheOwner&) = delete;
  RowCacheOwner& operator=(const RowCacheOwner&) = delete;
  ~RowCacheOwner() {
    // Updates made after this (from later thread_local destructors) go to
    // the shared row.
    tls_row_cache_closed = true;
    for (RowCacheEntry& entry : tls_row_cache) release_entry(entry);
  }
};

/// Makes the calling thread's entry for `table` entry 0 of its cache:
/// finds it among the others, or leases a row, evicting the least recently
/// used entry. False once the thread's cache is torn down (thread exit).
VIGIL_NOINLINE inline bool lease_row(RowTable* table) noexcept {
  if (tls_row_cache_closed) return false;
  static thread_local RowCacheOwner owner;
  (void)owner;
  const auto key = reinterpret_cast<std::uintptr_t>(table);
  std::size_t found = kRowCacheEntries - 1;
  for (std::size_t i = 0; i < kRowCacheEntries; ++i) {
    if ((tls_row_cache[i].key & ~std::uintptr_t{1}) == key) {
      found = i;
      break;
    }
  }
  RowCacheEntry entry = tls_row_cache[found];
  if ((entry.key & ~std::uintptr_t{1}) != key) {
    release_entry(entry);
    table->retain();
    const int row = table->acquire();
    entry =
        row >= 0
            ? RowCacheEntry{key, static_cast<std::size_t>(row) * kChunkCells}
            : RowCacheEntry{key | 1, 0};
  }
  for (std::size_t i = found; i > 0; --i) {
    tls_row_cache[i] = tls_row_cache[i - 1];
  }
  tls_row_cache[0] = entry;
  return true;
}

/// Where one series' cells are (docs/adr/0001).
///
/// A series starts with no cells. The first thread with an exclusive row
/// that updates it becomes its owner and gets a `compact` run, one row of
/// cells allocated next to the compact runs of the same row, so that no
/// other thread writes their cache lines. When another thread writes, the
/// series also gets a `striped` run (stripes + 1 rows); the owner's row keeps
/// writing `compact` and readers add both. A series written by one thread
/// thus costs one row instead of stripes + 1. Whoever holds the owner's row
/// next (after the thread exits) inherits `compact`, as rows are inherited.
/// Both pointers only go from null to a run, once.
struct SeriesCells {
  static constexpr std::size_t kNoOwner = ~std::size_t{0};
  /// Offset (row * kChunkCells) of the row whose holder writes `compact`.
  std::atomic<std::size_t> owner{kNoOwner};
  std::atomic<Cell*> compact{nullptr};
  std::atomic<Cell*> striped{nullptr};
};

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

/// Sum of cell `index` of a series over its compact run and all rows of
/// its striped run.
template <class T, class Load>
T sum_cells(const SeriesCells& cells, std::size_t index, Load load) noexcept {
  T sum = 0;
  if (const Cell* compact = cells.compact.load(std::memory_order_acquire)) {
    sum += load(compact[index]);
  }
  if (const Cell* striped = cells.striped.load(std::memory_order_acquire)) {
    const unsigned rows = stripe_count() + 1;
    for (unsigned r = 0; r < rows; ++r) {
      sum += load(striped[r * kChunkCells + index]);
    }
  }
  return sum;
}
inline double sum_double(const SeriesCells& cells, std::size_t index) noexcept {
  return sum_cells<double>(cells, index, load_double);
}
inline std::uint64_t sum_u64(const SeriesCells& cells,
                             std::size_t index) noexcept {
  return sum_cells<std::uint64_t>(cells, index, [](const Cell& cell) {
    return cell.load(std::memory_order_relaxed);
  });
}

/// Allocates runs of zeroed cells, and owns the row table that says which
/// row of them each thread writes. Runs never move and live as long as the
/// arena; allocation locks and happens only when a series is created or
/// first written by a thread.
///
/// Compact runs come from single-row chunks, one set per exclusive row, so
/// a thread's compact runs share cache lines only with each other. Striped
/// runs come from chunks of `stripes + 1` rows. Gauge cells, written by every
/// thread, come from their own single-row chunks, so no gauge shares a cache
/// line with any thread's cells.
class CellArena {
 public:
  /// Longest run a single series may take.
  static constexpr std::size_t kMaxRun = kChunkCells;

  CellArena() : rows_(RowTable::create(this)) {}
  CellArena(const CellArena&) = delete;
  CellArena& operator=(const CellArena&) = delete;
  // Threads that still cache the table keep it alive until they let go.
  ~CellArena() { rows_->drop(); }

  /// The leases of this arena's rows, for handles to pass to
  /// exclusive_cells().
  RowTable* rows() const noexcept { return rows_; }

  /// One gauge cell, away from every row.
  Cell* allocate_gauge() { return gauges_.take(1, kChunkCells); }

  /// Makes the holder of the row at `offset` the owner of `cells` (a run
  /// of `run` cells) if it has none yet, and returns the owner's offset.
  std::size_t claim(SeriesCells& cells, std::size_t offset, std::size_t run) {
    std::lock_guard<std::mutex> lock(claim_mutex_);
    std::size_t owner = cells.owner.load(std::memory_order_relaxed);
    if (owner == SeriesCells::kNoOwner) {
      cells.compact.store(compact_[offset / kChunkCells].take(run, kChunkCells),
                          std::memory_order_release);
      cells.owner.store(offset, std::memory_order_release);
      owner = offset;
    }
    return owner;
  }

  /// The striped run of `cells`, allocated on first use.
  Cell* striped(SeriesCells& cells, std::size_t run) {
    if (Cell* striped = cells.striped.load(std::memory_order_acquire)) {
      return striped;
    }
    std::lock_guard<std::mutex> lock(claim_mutex_);
    Cell* striped = cells.striped.load(std::memory_order_relaxed);
    if (striped == nullptr) {
      striped = striped_.take(run, striped_chunk_cells());
      cells.striped.store(striped, std::memory_order_release);
    }
    return striped;
  }

  /// Zeroes every cell of a series (a removed series added again starts
  /// from zero).
  void reset(SeriesCells& cells, std::size_t run) noexcept {
    if (Cell* compact = cells.compact.load(std::memory_order_acquire)) {
      for (std::size_t i = 0; i < run; ++i) compact[i].store(0);
    }
    if (Cell* striped = cells.striped.load(std::memory_order_acquire)) {
      const unsigned rows = stripe_count() + 1;
      for (unsigned r = 0; r < rows; ++r) {
        for (std::size_t i = 0; i < run; ++i) {
          striped[r * kChunkCells + i].store(0);
        }
      }
    }
  }

  /// Bytes held by the arena (for memory accounting).
  std::size_t bytes() const {
    std::size_t compact_chunks = 0;
    for (const Chunks& chunks : compact_) compact_chunks += chunks.chunks();
    return (striped_.chunks() * striped_chunk_cells() +
            (gauges_.chunks() + compact_chunks) * kChunkCells) *
           sizeof(Cell);
  }

 private:
  struct AlignedDelete {
    void operator()(Cell* p) const noexcept {
      ::operator delete(p, std::align_val_t(64));
    }
  };
  using Chunk = std::unique_ptr<Cell[], AlignedDelete>;

  /// Chunks of one kind, filled front to back, kChunkCells cells a row.
  class Chunks {
   public:
    Cell* take(std::size_t cells, std::size_t chunk_cells) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (chunks_.empty() || used_ + cells > kChunkCells) {
        chunks_.push_back(new_chunk(chunk_cells));
        used_ = 0;
      }
      Cell* run = chunks_.back().get() + used_;
      used_ += cells;
      return run;
    }
    std::size_t chunks() const {
      std::lock_guard<std::mutex> lock(mutex_);
      return chunks_.size();
    }

   private:
    static Chunk new_chunk(std::size_t n) {
      // 64-byte alignment keeps rows of different threads, and gauges, off
      // each other's cache lines.
      auto* raw = static_cast<Cell*>(
          ::operator new(n * sizeof(Cell), std::align_val_t(64)));
      for (std::size_t i = 0; i < n; ++i) new (raw + i) Cell(0);
      return Chunk(raw);
    }

    mutable std::mutex mutex_;
    std::vector<Chunk> chunks_;
    std::size_t used_ = 0;
  };

  std::size_t striped_chunk_cells() const noexcept {
    return rows_->shared_offset() + kChunkCells;
  }

  RowTable* const rows_;
  std::mutex claim_mutex_;  // orders owner claims and striped allocations
  Chunks striped_;
  Chunks gauges_;
  Chunks compact_[kMaxStripes];
};

/// exclusive_cells() when the thread is not the owner and has no striped
/// row yet: leases a row, claims the series or allocates its striped run.
/// Allocation failure ends the process, as it would in any other inc().
VIGIL_NOINLINE inline Cell* exclusive_cells_slow(RowTable* table,
                                                 SeriesCells& cells,
                                                 std::size_t run) noexcept {
  CellArena& arena = *table->arena();
  if (lease_row(table) && (tls_row_cache[0].key & 1) == 0) {
    const std::size_t offset = tls_row_cache[0].offset;
    if (arena.claim(cells, offset, run) == offset) {
      return cells.compact.load(std::memory_order_relaxed);
    }
    return arena.striped(cells, run) + offset;
  }
  arena.striped(cells, run);  // for shared_cells()
  return nullptr;
}

/// The run of `run` cells the calling thread may write with plain stores
/// (the series' compact run, or the thread's row of its striped run), or
/// nullptr when the thread must use shared_cells(). The first update of a
/// series from a thread may allocate its cells (under the arena's lock);
/// every later one is two compares and two loads.
inline Cell* exclusive_cells(RowTable* table, SeriesCells& cells,
                             std::size_t run) noexcept {
  const RowCacheEntry& entry = tls_row_cache[0];
  if (VIGIL_LIKELY(entry.key == reinterpret_cast<std::uintptr_t>(table))) {
    if (VIGIL_LIKELY(cells.owner.load(std::memory_order_relaxed) ==
                     entry.offset)) {
      return cells.compact.load(std::memory_order_relaxed);
    }
    if (Cell* striped = cells.striped.load(std::memory_order_acquire)) {
      return striped + entry.offset;
    }
  }
  return exclusive_cells_slow(table, cells, run);
}

/// The shared row of the series' striped run, which exclusive_cells()
/// allocated before answering nullptr.
inline Cell* shared_cells(const RowTable* table,
                          const SeriesCells& cells) noexcept {
  return cells.striped.load(std::memory_order_acquire) + table->shared_offset();
}

/// Adds `amount` to cell `index` of a series whose runs have `run` cells:
/// a plain store on the thread's own cells, an atomic add on the shared
/// row otherwise.
template <class T>
void add_to(RowTable* table, SeriesCells& cells, std::size_t run,
            std::size_t index, T amount) noexcept {
  if (Cell* mine = exclusive_cells(table, cells, run)) {
    add_exclusive(mine[index], amount);
  } else {
    add_shared(shared_cells(table, cells)[index], amount);
  }
}

}  // namespace detail
VIGIL_NAMESPACE_END
