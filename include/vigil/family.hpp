#pragma once

#include <cmath>
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/counter.hpp"
#include "vigil/detail/cells.hpp"
#include "vigil/detail/exposition_walk.hpp"
#include "vigil/detail/family_stats.hpp"
#include "vigil/detail/family_type.hpp"
#include "vigil/detail/names.hpp"
#include "vigil/detail/series_table.hpp"
#include "vigil/detail/utf8.hpp"
#include "vigil/gauge.hpp"
#include "vigil/histogram.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// Per-family settings for Registry::counter/gauge/histogram.
struct FamilyOptions {
  /// OpenMetrics unit (e.g. "seconds"); the name must end in `_<unit>`
  /// (before `_total` for counters).
  std::string unit;
  /// Series limit for this family; 0 takes the registry's default.
  std::size_t max_series = 0;
};

/// Label value given to every label of the overflow series.
inline constexpr std::string_view kOverflowLabelValue = "__vigil_overflow__";

namespace detail {

/// Type-independent part of a family: metadata, the series table, the
/// cardinality guard and the exposition walk.
class FamilyCore {
 public:
  FamilyCore(std::string name, std::string help, FamilyType type,
             std::vector<std::string> label_names, std::vector<double> bounds,
             FamilyOptions options, std::size_t default_max_series,
             CellArena& arena)
      : name_(std::move(name)),
        help_(sanitised_utf8(help)),
        type_(type),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)),
        unit_(std::move(options.unit)),
        max_series_(options.max_series ? options.max_series
                                       : default_max_series),
        arena_(arena) {
    check_metric_name(name_);
    check_label_names(name_, label_names_, type_ == FamilyType::kHistogram);
    if (!unit_.empty()) {
      std::string_view base = name_;
      if (type_ == FamilyType::kCounter) base = strip_suffix(base, "_total");
      const std::string suffix = "_" + unit_;
      if (!valid_label_name(unit_) || base.size() <= suffix.size() ||
          base.substr(base.size() - suffix.size()) != suffix) {
        throw std::invalid_argument("vigil: metric '" + name_ +
                                    "' must end in '" + suffix +
                                    "' to declare unit '" + unit_ + "'");
      }
    }
    if (type_ == FamilyType::kHistogram) {
      if (!bounds_.empty() && std::isinf(bounds_.back()) &&
          bounds_.back() > 0) {
        bounds_.pop_back();  // +Inf is implicit
      }
      for (std::size_t i = 0; i < bounds_.size(); ++i) {
        if (!std::isfinite(bounds_[i]) ||
            (i && !(bounds_[i - 1] < bounds_[i]))) {
          throw std::invalid_argument(
              "vigil: histogram '" + name_ +
              "' needs finite, strictly increasing bucket bounds");
        }
      }
      if (bounds_.size() + 2 > CellArena::kMaxRun) {
        throw std::invalid_argument("vigil: histogram '" + name_ +
                                    "' has too many buckets");
      }
      padded_bounds_ = bounds_;
      while (padded_bounds_.size() % Histogram::kBoundsAlignment != 0) {
        padded_bounds_.push_back(std::numeric_limits<double>::infinity());
      }
    }
  }
  FamilyCore(const FamilyCore&) = delete;
  FamilyCore& operator=(const FamilyCore&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  FamilyType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& bounds() const { return bounds_; }
  const std::string& unit() const { return unit_; }
  std::size_t max_series() const { return max_series_; }
  const FamilyStats& stats() const { return stats_; }

  /// Number of series exported, the overflow series included.
  std::size_t series_count() const {
    return live_.load(std::memory_order_relaxed) +
           (overflow_.load(std::memory_order_acquire) ? 1 : 0);
  }

  /// Lookups sent to the overflow series (vigil_series_dropped_total).
  std::uint64_t dropped() const noexcept { return stats_.dropped_count(); }

  /// The series for `values`, created if needed. Existing series are found
  /// without locking or allocating; so, once the family is full, are new
  /// label sets sent to the overflow series.
  Series& series(const std::string_view* values, std::size_t n) {
    check_arity(n);
    const std::size_t hash = hash_label_values(values, n);
    Series* s = table_.find(hash, values, n);
    // Acquire: a series added back is seen with its zeroed cells.
    if (VIGIL_LIKELY(s != nullptr && s->live.load(std::memory_order_acquire))) {
      return *s;
    }
    // Stored label values are valid UTF-8, so only a miss can be a value
    // that is not: look it up again under its sanitised spelling.
    if (VIGIL_UNLIKELY(!all_valid_utf8(values, n))) {
      stats_.rejected.fetch_add(1, std::memory_order_relaxed);
      Sanitised clean(values, n);
      return series(clean.views.data(), n);
    }
    if (s == nullptr) {
      if (Series* overflow = overflow_.load(std::memory_order_acquire)) {
        // live_ is raised after a series is published: seeing the family
        // full, a second look sees every series that filled it.
        if (live_.load(std::memory_order_acquire) >= max_series_ &&
            table_.find(hash, values, n) == nullptr) {
          count_dropped();
          return *overflow;
        }
      }
    }
    return create(hash, values, n);
  }

  /// Frees the series for `values`: it is no longer exported, no longer
  /// counts against the series limit, and a later with() starts it from
  /// zero. Returns false when there is no such series (or it is the
  /// overflow series, which stays).
  bool remove_series(const std::string_view* values, std::size_t n) {
    check_arity(n);
    if (!all_valid_utf8(values, n)) {
      Sanitised clean(values, n);
      return remove_series(clean.views.data(), n);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    Series* s = table_.find(hash_label_values(values, n), values, n);
    if (s == nullptr || s == overflow_.load(std::memory_order_relaxed) ||
        !s->live.load(std::memory_order_relaxed)) {
      return false;
    }
    s->live.store(false, std::memory_order_relaxed);
    live_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  /// The lock that series creation and removal take, and nothing else
  /// does: tests hold it to show that lookups never wait for it.
  std::mutex& creation_mutex() { return mutex_; }

  /// Describes this family to `writer` (detail/exposition_walk.hpp).
  template <class Writer>
  void walk(Writer& writer) const {
    writer.family(FamilyHeader{name_, help_, type_, unit_, &bounds_});
    table_.for_each([&](const Series& s) {
      if (!s.live.load(std::memory_order_relaxed)) return;
      writer.series(SeriesLabels{label_names_, s.labels, s.labels.text()});
      switch (type_) {
        case FamilyType::kCounter:
          writer.value(Counter::value_of(s.cells));
          break;
        case FamilyType::kGauge:
          writer.value(load_double(*s.cells.compact.load()));
          break;
        case FamilyType::kHistogram: {
          std::uint64_t cumulative = 0;
          for (std::size_t i = 0; i <= bounds_.size(); ++i) {
            cumulative += sum_u64(s.cells, i);
            writer.bucket(i,
                          i < bounds_.size()
                              ? bounds_[i]
                              : std::numeric_limits<double>::infinity(),
                          cumulative);
          }
          writer.sum(sum_double(s.cells, bounds_.size() + 1));
          writer.count(cumulative);
          break;
        }
        case FamilyType::kSummary:
        case FamilyType::kUntyped:
          break;
      }
    });
  }

 protected:
  /// The leases of the registry's rows, shared by every handle's updates.
  RowTable* rows() const { return arena_.rows(); }
  /// bounds() padded with +Inf for Histogram's bucket search.
  const std::vector<double>& padded_bounds() const { return padded_bounds_; }

  FamilyStats stats_;

 private:
  static bool all_valid_utf8(const std::string_view* values, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!valid_utf8(values[i])) return false;
    }
    return true;
  }

  /// Label values with invalid UTF-8 replaced by U+FFFD.
  struct Sanitised {
    Sanitised(const std::string_view* values, std::size_t n)
        : owned(n), views(n) {
      for (std::size_t i = 0; i < n; ++i) {
        owned[i] = sanitised_utf8(values[i]);
        views[i] = owned[i];
      }
    }
    std::vector<std::string> owned;
    std::vector<std::string_view> views;
  };

  void check_arity(std::size_t n) const {
    if (VIGIL_UNLIKELY(n != label_names_.size())) {
      throw std::invalid_argument("vigil: metric '" + name_ + "' takes " +
                                  std::to_string(label_names_.size()) +
                                  " label value(s), got " + std::to_string(n));
    }
  }

  std::size_t cells_per_series() const {
    switch (type_) {
      case FamilyType::kCounter:
        return Counter::kCells;
      case FamilyType::kHistogram:
        return bounds_.size() + 2;
      default:
        return 1;
    }
  }

  Series& create(std::size_t hash, const std::string_view* values,
                 std::size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    Series* s = table_.find(hash, values, n);
    if (s != nullptr && s->live.load(std::memory_order_relaxed)) return *s;
    if (live_.load(std::memory_order_relaxed) >= max_series_) {
      return overflow(n);
    }
    if (s != nullptr) {  // removed: comes back from zero
      arena_.reset(s->cells, cells_per_series());
      s->live.store(true, std::memory_order_release);
    } else {
      s = &insert(hash, values, n);
    }
    live_.fetch_add(1, std::memory_order_release);
    return *s;
  }

  void count_dropped() noexcept {
    add_to(rows(), stats_.dropped, 1, 0, std::uint64_t{1});
  }

  /// The overflow series, created the first time. Caller holds mutex_.
  Series& overflow(std::size_t n) {
    count_dropped();
    Series* s = overflow_.load(std::memory_order_relaxed);
    if (s == nullptr) {
      const std::vector<std::string_view> values(n, kOverflowLabelValue);
      const std::size_t hash = hash_label_values(values.data(), n);
      s = table_.find(hash, values.data(), n);
      if (s == nullptr) {
        s = &insert(hash, values.data(), n);
      } else if (s->live.load(std::memory_order_relaxed)) {
        // a series a caller named with the overflow value itself
        live_.fetch_sub(1, std::memory_order_relaxed);
      } else {  // one that was removed: back from zero, as any other
        arena_.reset(s->cells, cells_per_series());
        s->live.store(true, std::memory_order_release);
      }
      overflow_.store(s, std::memory_order_release);
    }
    return *s;
  }

  Series& insert(std::size_t hash, const std::string_view* values,
                 std::size_t n) {
    auto s = std::make_unique<Series>(hash, label_names_, values, n);
    if (type_ == FamilyType::kGauge) {
      s->cells.compact.store(arena_.allocate_gauge(),
                             std::memory_order_relaxed);
    }
    return *table_.insert(std::move(s));
  }

  const std::string name_;
  const std::string help_;
  const FamilyType type_;
  const std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  std::vector<double> padded_bounds_;  // what Histogram handles search
  const std::string unit_;
  const std::size_t max_series_;
  CellArena& arena_;
  std::mutex mutex_;  // serialises series creation and removal
  SeriesTable table_;
  std::atomic<std::size_t> live_{0};  // live series, the overflow one aside
  std::atomic<Series*> overflow_{nullptr};  // written under mutex_
};

}  // namespace detail

/// A metric family: one name, one set of label names, many series.
///
/// with() returns the series for a set of label values, creating it the first
/// time. Looking up an existing series takes no lock and allocates nothing;
/// still, cache the handle where you can. Past the family's series limit
/// (RegistryOptions::max_series_per_family) new label sets all share one
/// overflow series whose label values are kOverflowLabelValue, and
/// vigil_series_dropped_total{metric} counts them: memory stays bounded.
///
/// Thread-safety: all members may be called from any thread at once.
///
///     auto& requests = registry.counter("http_requests_total", "Requests.",
///                                       {"method", "path", "status"});
///     vigil::Counter ok = requests.with({"GET", "/v1/messages", "200"});
///     ok.inc();
///
/// A wrong number of label values throws std::invalid_argument. Bytes of a
/// label value that are not well-formed UTF-8 become U+FFFD (the series is
/// the one with the replaced value) and count in
/// vigil_updates_rejected_total{metric}: see docs/sdk/policies.md.
template <class Handle>
class Family : public detail::FamilyCore {
 public:
  using FamilyCore::FamilyCore;

  /// The series for `values` (one per label name, in order), created the
  /// first time. Throws std::invalid_argument for a wrong count.
  Handle with(std::initializer_list<std::string_view> values) {
    return handle(series(values.begin(), values.size()));
  }
  /// with() for label values computed at run time.
  Handle with(const std::vector<std::string_view>& values) {
    return handle(series(values.data(), values.size()));
  }
  /// with() for owned strings (allocates a view per call; prefer the
  /// overloads above on hot paths).
  Handle with(const std::vector<std::string>& values) {
    std::vector<std::string_view> views(values.begin(), values.end());
    return with(views);
  }

  /// Frees a series (e.g. a Kafka partition that was revoked): it is no
  /// longer exported nor counted against the series limit, and a later
  /// with() starts it again from zero. Handles to it stay valid; updates
  /// through them are not exported (and may show up in the series once
  /// it is added again). Its record (label values, cells) is kept for that
  /// return, so memory grows with the distinct label sets ever removed,
  /// not with how often: see docs/sdk/policies.md.
  bool remove(std::initializer_list<std::string_view> values) {
    return remove_series(values.begin(), values.size());
  }
  /// remove() for label values computed at run time.
  bool remove(const std::vector<std::string_view>& values) {
    return remove_series(values.data(), values.size());
  }

 private:
  Handle handle(detail::Series& s);
};

template <>
inline Counter Family<Counter>::handle(detail::Series& s) {
  return Counter(&s.cells, rows(), &stats_);
}
template <>
inline Gauge Family<Gauge>::handle(detail::Series& s) {
  return Gauge(s.cells.compact.load(std::memory_order_relaxed));
}
template <>
inline Histogram Family<Histogram>::handle(detail::Series& s) {
  return Histogram(&s.cells, rows(), padded_bounds().data(), bounds().size(),
                   &stats_);
}

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

VIGIL_NAMESPACE_END
