#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "vigil/buckets.hpp"
#include "vigil/detail/cells.hpp"
#include "vigil/detail/family_type.hpp"
#include "vigil/detail/metric_family_writer.hpp"
#include "vigil/exposition.hpp"
#include "vigil/family.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// Settings of a Registry.
struct RegistryOptions {
  /// Default series limit of each family (FamilyOptions::max_series
  /// overrides it): the cardinality guard that keeps memory bounded.
  std::size_t max_series_per_family = 10000;
};

/// Owns metric families and serialises them, plus any prometheus-cpp
/// collectables it was asked to include, into the Prometheus text format or
/// OpenMetrics.
///
/// It is itself a prometheus::Collectable, so a service that already runs a
/// prometheus::Exposer can register it there unchanged; and
/// include()/include_weak() let vigil's exposition serve an existing
/// prometheus::Registry. Either way a team adopts vigil without rewriting its
/// metrics.
///
/// Thread-safety: every member may be called concurrently. Registering a
/// family locks the registry; scrapes lock only to copy the family list, so
/// they never block instrumented threads. Families and the handles they hand
/// out live as long as the registry, unregistered ones included.
///
///     vigil::Registry registry;
///     auto& sent = registry.counter("messages_sent_total", "Sent.",
///                                   {"channel"});
///     sent.with({"whatsapp"}).inc();
///     std::string body =
///     registry.scrape(vigil::ExpositionFormat::kOpenMetrics);
///
/// Registering a name again with the same type, labels and buckets returns
/// the existing family; anything else, and invalid names, throw
/// std::invalid_argument. So does a family whose exposed names (a
/// counter's with and without `_total`, a histogram's `_bucket`, `_count`,
/// `_sum`, and `_created` for both) overlap another's: see
/// docs/sdk/policies.md.
class Registry : public prometheus::Collectable {
 public:
  /// An empty registry.
  explicit Registry(RegistryOptions options = {}) : options_(options) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Registers (or returns the existing) counter family `name` with
  /// `label_names`. Name counters `..._total`.
  CounterFamily& counter(std::string name, std::string help,
                         std::vector<std::string> label_names = {},
                         FamilyOptions options = {}) {
    return add<Counter>(std::move(name), std::move(help),
                        detail::FamilyType::kCounter, std::move(label_names),
                        {}, std::move(options));
  }

  /// Registers (or returns the existing) gauge family.
  GaugeFamily& gauge(std::string name, std::string help,
                     std::vector<std::string> label_names = {},
                     FamilyOptions options = {}) {
    return add<Gauge>(std::move(name), std::move(help),
                      detail::FamilyType::kGauge, std::move(label_names), {},
                      std::move(options));
  }

  /// Registers (or returns the existing) histogram family with finite,
  /// strictly increasing `bounds` (`+Inf` is implicit).
  HistogramFamily& histogram(
      std::string name, std::string help,
      std::vector<std::string> label_names = {},
      std::vector<double> bounds = buckets::latency_seconds(),
      FamilyOptions options = {}) {
    return add<Histogram>(
        std::move(name), std::move(help), detail::FamilyType::kHistogram,
        std::move(label_names), std::move(bounds), std::move(options));
  }

  /// Stops serving `family` and frees its name (and the names it exposes)
  /// for another registration. Handles from it stay valid until the
  /// registry is destroyed, as the family object does; their updates are
  /// no longer exported. Returns false when `family` is not registered
  /// here (or was unregistered already).
  template <class Handle>
  bool unregister(const Family<Handle>& family) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = families_.begin(); it != families_.end(); ++it) {
      if (it->get() != &family) continue;
      // A scrape may still be walking it; it is kept until destruction.
      unregistered_.push_back(std::move(*it));
      families_.erase(it);
      return true;
    }
    return false;
  }

  /// Serves `collectable`'s metrics next to vigil's, keeping it alive.
  void include(std::shared_ptr<const prometheus::Collectable> collectable) {
    std::lock_guard<std::mutex> lock(mutex_);
    owned_collectables_.push_back(collectable);
    collectables_.push_back(collectable);
  }
  /// Serves `collectable`'s metrics while it lives (e.g. a service's
  /// existing std::shared_ptr<prometheus::Registry>). Do not include a
  /// collectable that itself collects this registry.
  void include_weak(std::weak_ptr<const prometheus::Collectable> collectable) {
    std::lock_guard<std::mutex> lock(mutex_);
    collectables_.push_back(std::move(collectable));
  }

  /// Appends the exposition of everything this registry serves to `out`.
  /// Reuse `out` across scrapes to avoid reallocating.
  void write(std::string& out, ExpositionFormat format) const {
    std::vector<const detail::FamilyCore*> families;
    std::vector<std::shared_ptr<const prometheus::Collectable>> collectables;
    snapshot(families, collectables);
    detail::with_writer(out, format, [&](auto& writer) {
      for (const auto* family : families) family->walk(writer);
      std::string labels;
      for (const auto& collectable : collectables) {
        for (const auto& family : collectable->Collect()) {
          detail::walk(family, writer, labels);
        }
      }
      walk_error_counts(families, writer);
      writer.end();
    });
  }

  /// The exposition of everything this registry serves, in a new string.
  std::string scrape(
      ExpositionFormat format = ExpositionFormat::kPrometheusText) const {
    std::string out;
    write(out, format);
    return out;
  }

  /// vigil's own families (not the included collectables) in prometheus-cpp's
  /// data model.
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<const detail::FamilyCore*> families;
    std::vector<std::shared_ptr<const prometheus::Collectable>> unused;
    snapshot(families, unused);
    std::vector<prometheus::MetricFamily> out;
    out.reserve(families.size() + 2);
    detail::MetricFamilyWriter writer(out);
    for (const auto* family : families) family->walk(writer);
    walk_error_counts(families, writer);
    return out;
  }

 private:
  struct ErrorCount {
    const char* name;
    const char* help;
    std::uint64_t (*count)(const detail::FamilyCore&);
  };
  static constexpr ErrorCount kErrorCounts[] = {
      {"vigil_updates_rejected_total",
       "Updates ignored as invalid: negative or non-finite counter "
       "increments, NaN observations; and label values with invalid UTF-8, "
       "stored with U+FFFD instead.",
       [](const detail::FamilyCore& f) { return f.stats().rejected.load(); }},
      {"vigil_series_dropped_total",
       "Lookups of new label sets sent to the overflow series because the "
       "family reached its series limit.",
       [](const detail::FamilyCore& f) { return f.dropped(); }},
  };

  template <class Handle>
  Family<Handle>& add(std::string name, std::string help,
                      detail::FamilyType type,
                      std::vector<std::string> label_names,
                      std::vector<double> bounds, FamilyOptions options) {
    auto family = std::make_unique<Family<Handle>>(
        std::move(name), std::move(help), type, std::move(label_names),
        std::move(bounds), std::move(options), options_.max_series_per_family,
        arena_);
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& existing : families_) {
      if (existing->name() != family->name()) continue;
      if (existing->type() != type ||
          existing->label_names() != family->label_names() ||
          existing->bounds() != family->bounds() ||
          existing->unit() != family->unit()) {
        throw std::invalid_argument(
            "vigil: metric '" + family->name() +
            "' is already registered with another type, labels, buckets or "
            "unit");
      }
      return static_cast<Family<Handle>&>(*existing);
    }
    check_no_collision(*family);
    families_.push_back(std::move(family));
    return static_cast<Family<Handle>&>(*families_.back());
  }

  /// Refuses a family that would write a family or sample name another one
  /// writes in some format (e.g. counters `jobs` and `jobs_total`, or
  /// histogram `lat` and gauge `lat_count`): a scraper would keep one of the
  /// two samples, or reject the scrape. Caller holds mutex_.
  void check_no_collision(const detail::FamilyCore& family) const {
    const auto refuse = [&](const std::string& other) {
      throw std::invalid_argument("vigil: metric '" + family.name() +
                                  "' would expose a name that '" + other +
                                  "' exposes too (see docs/sdk/policies.md)");
    };
    for (const auto& existing : families_) {
      if (detail::names_collide(existing->name(), existing->type(),
                                family.name(), family.type())) {
        refuse(existing->name());
      }
    }
    for (const auto& error : kErrorCounts) {
      if (detail::names_collide(error.name, detail::FamilyType::kCounter,
                                family.name(), family.type())) {
        refuse(error.name);
      }
    }
  }

  void snapshot(std::vector<const detail::FamilyCore*>& families,
                std::vector<std::shared_ptr<const prometheus::Collectable>>&
                    collectables) const {
    std::lock_guard<std::mutex> lock(mutex_);
    families.reserve(families_.size());
    for (const auto& family : families_) families.push_back(family.get());
    for (const auto& weak : collectables_) {
      if (auto strong = weak.lock()) collectables.push_back(std::move(strong));
    }
  }

  /// vigil_updates_rejected_total and vigil_series_dropped_total, each
  /// with a series for every family that has a count (none when all are 0).
  template <class Writer>
  static void walk_error_counts(
      const std::vector<const detail::FamilyCore*>& families, Writer& writer) {
    std::string labels;
    for (const auto& error : kErrorCounts) {
      bool header = false;
      for (const auto* family : families) {
        const std::uint64_t count = error.count(*family);
        if (count == 0) continue;
        if (!header) {
          writer.family(detail::FamilyHeader{error.name,
                                             error.help,
                                             detail::FamilyType::kCounter,
                                             {},
                                             nullptr});
          header = true;
        }
        labels = "metric=\"" + family->name() + "\"";
        writer.series(detail::SingleLabel{"metric", family->name(), labels});
        writer.value(count);
      }
    }
  }

  const RegistryOptions options_;
  detail::CellArena arena_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<detail::FamilyCore>> families_;
  std::vector<std::unique_ptr<detail::FamilyCore>> unregistered_;
  std::vector<std::weak_ptr<const prometheus::Collectable>> collectables_;
  std::vector<std::shared_ptr<const prometheus::Collectable>>
      owned_collectables_;
};

VIGIL_NAMESPACE_END
