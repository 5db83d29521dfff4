#pragma once
// Random registries for the exposition property test and fuzzer
// (exposition_property_test.cpp, tests/fuzz/exposition_fuzz.cpp): a byte
// stream drives registrations (valid and invalid names, label names,
// bucket bounds, units, collisions) and updates (label values with
// escapes, non-ASCII and invalid UTF-8; NaN, infinities, huge, tiny and
// negative-zero values) on a vigil::Registry, while a model written from
// the documented behaviour (docs/sdk/policies.md, the API comments)
// predicts what must be refused and what the scrape must contain. Then
// check() parses both scrapes with the strict grammar
// (exposition_grammar.hpp) and compares them with the model and with what
// prometheus-cpp's TextSerializer writes for the same data.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exposition_grammar.hpp"
#include "vigil/registry.hpp"

namespace vigil_test::model {

/// Reads choices from fuzzer bytes; past the end every read is 0, so any
/// input is a complete program.
class ByteStream {
 public:
  ByteStream(const std::uint8_t* data, std::size_t size)
      : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  /// A number in [0, n).
  std::size_t below(std::size_t n) {
    std::size_t v = byte();
    if (n > 256) v = v << 8 | byte();
    return n == 0 ? 0 : v % n;
  }
  bool chance(unsigned in256) { return byte() < in256; }
  double raw_double() {
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = bits << 8 | byte();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

enum class Kind { kCounter, kGauge, kHistogram };

/// Each byte that is not part of a well-formed UTF-8 sequence becomes
/// U+FFFD: the policy of docs/sdk/policies.md, from Unicode table 3-7
/// rather than vigil's decoder.
inline std::string sanitised(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = 1;
    while (n <= 4 && i + n <= s.size() &&
           !grammar::well_formed_utf8(s.substr(i, n))) {
      ++n;
    }
    // The shortest well-formed prefix of length 1-4 is the sequence, if
    // the lead byte starts one (a longer prefix only adds characters).
    if (n <= 4 && i + n <= s.size()) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

/// One accepted update, replayed on prometheus-cpp.
struct Op {
  enum { kSet, kAdd } what;
  double value;
};

struct SeriesModel {
  bool hidden = false;
  double gauge = 0;
  // Counters: the exact sum when every increment is a multiple of 2^-10
  // below 2^40 (any summation order is exact then), else a bound for the
  // rounding error.
  double total = 0;
  double magnitude = 0;
  bool exact = true;
  std::vector<std::uint64_t> buckets;  // per bucket, not cumulative
  double sum = 0;
  std::vector<Op> ops;
};

struct FamilyModel {
  Kind kind;
  std::string name;
  std::string help;  // sanitised
  std::vector<std::string> labels;
  std::vector<double> bounds;  // without a trailing +Inf
  std::string unit;
  std::size_t max_series;
  std::map<std::vector<std::string>, SeriesModel> series;
  bool has_overflow = false;
  std::uint64_t rejected = 0;
  std::uint64_t dropped = 0;
  vigil::CounterFamily* counter = nullptr;
  vigil::GaugeFamily* gauge = nullptr;
  vigil::HistogramFamily* histogram = nullptr;
  // Handles taken earlier, updated again later (stay valid after remove;
  // their updates land in the series' record, exported again, from zero,
  // once the label set is added back).
  // handle_keys[i] is the series of the i-th handle of the family's type.
  std::vector<std::vector<std::string>> handle_keys;
  std::vector<vigil::Counter> counter_handles;
  std::vector<vigil::Gauge> gauge_handles;
  std::vector<vigil::Histogram> histogram_handles;
};

/// The names a family writes in some format (docs/sdk/policies.md).
inline std::set<std::string> taken_names(Kind kind, const std::string& name) {
  if (kind == Kind::kGauge) return {name};
  if (kind == Kind::kCounter) {
    std::string base = name;
    if (base.size() > 6 && base.compare(base.size() - 6, 6, "_total") == 0) {
      base.resize(base.size() - 6);
    }
    return {base, base + "_total", base + "_created"};
  }
  return {name, name + "_bucket", name + "_count", name + "_sum",
          name + "_created"};
}

inline const char* const kMetaFamilies[] = {"vigil_updates_rejected_total",
                                            "vigil_series_dropped_total"};

/// Builds a random registry from a byte stream and records the model.
class Generator {
 public:
  static constexpr std::size_t kMaxFamilies = 12;
  static constexpr std::size_t kMaxSteps = 300;

  explicit Generator(ByteStream& in) : in_(in) {}

  /// Runs the whole stream; returns an error message when the API did
  /// something the model says it must not (accepting what it must refuse,
  /// refusing what it must accept).
  std::string run() {
    for (std::size_t step = 0; step < kMaxSteps && !in_.empty(); ++step) {
      std::string error;
      const std::size_t what = in_.below(10);
      if (what < 2 || families_.empty()) {
        error = register_family();
      } else if (what < 9) {
        error = update();
      } else {
        error = remove();
      }
      if (!error.empty()) return error;
    }
    return {};
  }

  vigil::Registry& registry() { return registry_; }
  const std::vector<std::unique_ptr<FamilyModel>>& families() const {
    return families_;
  }

 private:
  std::string metric_name() {
    static const char* const kBases[] = {"a",
                                         "b",
                                         "x_y",
                                         ":c",
                                         "vigil_updates_rejected",
                                         "Ab",
                                         "req",
                                         "lat",
                                         "1bad",
                                         "bad-name",
                                         "",
                                         "\xc3\xa9t\xc3\xa9",
                                         "a b",
                                         "vigil_series_dropped"};
    static const char* const kSuffixes[] = {
        "",         "_total",   "_count",  "_sum",    "_bucket",
        "_created", "_seconds", "_counts", "_totals", "_seconds_total"};
    return std::string(kBases[in_.below(std::size(kBases))]) +
           kSuffixes[in_.below(std::size(kSuffixes))];
  }

  std::string label_name() {
    static const char* const kNames[] = {
        "a",  "b",   "le", "quantile", "_x", "metric",  "__r",
        "1a", "a-b", "",   "a:b",      "Z9", "\xc3\xa9"};
    return kNames[in_.below(std::size(kNames))];
  }

  std::string label_value() {
    static const char* const kPieces[] = {"a",
                                          "\\",
                                          "\"",
                                          "\n",
                                          "\xc3\xa9",
                                          "\xe2\x82\xac",
                                          "\xf0\x9f\x98\x80",
                                          "\xff",
                                          "\xc3",
                                          "\xed\xa0\x80",
                                          "\xc0\xaf",
                                          "\xf4\x90\x80\x80",
                                          "\xe2\x82",
                                          "}",
                                          ",",
                                          "=",
                                          " ",
                                          "#",
                                          "\t",
                                          "\\n",
                                          "__vigil_overflow__",
                                          "le"};
    std::string v;
    const std::size_t pieces = in_.below(5);
    for (std::size_t i = 0; i < pieces; ++i) {
      if (in_.chance(24)) {
        v += static_cast<char>(in_.byte());  // any byte, NUL included
      } else {
        v += kPieces[in_.below(std::size(kPieces))];
      }
    }
    return v;
  }

  double value() {
    static const double kValues[] = {0.0,
                                     -0.0,
                                     1,
                                     2,
                                     3,
                                     0.5,
                                     0.25,
                                     7,
                                     100,
                                     -1,
                                     -2.5,
                                     1e308,
                                     -1e308,
                                     std::numeric_limits<double>::max(),
                                     std::numeric_limits<double>::denorm_min(),
                                     1e-300,
                                     0.1,
                                     1.0 / 3,
                                     9007199254740992.0,
                                     9007199254740994.0,
                                     1e6,
                                     123456.789,
                                     std::nan(""),
                                     HUGE_VAL,
                                     -HUGE_VAL};
    if (in_.chance(16)) return in_.raw_double();
    return kValues[in_.below(std::size(kValues))];
  }

  std::vector<double> bounds() {
    std::vector<double> b;
    const std::size_t shape = in_.below(16);
    if (shape == 0) {  // too many buckets
      for (int i = 0; i < 520; ++i) b.push_back(i);
      return b;
    }
    const std::size_t n = in_.below(7);
    double at = in_.chance(128) ? -2 : 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (in_.chance(24)) {
        b.push_back(value());  // possibly unsorted, NaN, infinite
      } else {
        static const double kSteps[] = {0.001, 0.25, 1, 1e6, 0.1, 1e-7};
        at += kSteps[in_.below(std::size(kSteps))];
        b.push_back(at == 0 && in_.chance(128) ? -0.0 : at);
      }
    }
    if (in_.chance(32)) b.push_back(HUGE_VAL);
    return b;
  }

  /// What registration must do, from the documented rules.
  enum class Expect { kNew, kExisting, kRefuse };
  Expect expect(Kind kind, const std::string& name,
                const std::vector<std::string>& labels,
                std::vector<double>& bounds, const std::string& unit,
                FamilyModel*& existing) {
    existing = nullptr;
    if (!grammar::metric_name_ok(name)) return Expect::kRefuse;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (!grammar::label_name_ok(labels[i]) ||
          labels[i].compare(0, 2, "__") == 0 ||
          (kind == Kind::kHistogram && labels[i] == "le")) {
        return Expect::kRefuse;
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (labels[i] == labels[j]) return Expect::kRefuse;
      }
    }
    if (!unit.empty()) {
      std::string base = name;
      if (kind == Kind::kCounter && base.size() > 6 &&
          base.compare(base.size() - 6, 6, "_total") == 0) {
        base.resize(base.size() - 6);
      }
      const std::string suffix = "_" + unit;
      if (!grammar::label_name_ok(unit) || unit.compare(0, 2, "__") == 0 ||
          base.size() <= suffix.size() ||
          base.compare(base.size() - suffix.size(), suffix.size(), suffix) !=
              0) {
        return Expect::kRefuse;
      }
    }
    if (kind == Kind::kHistogram) {
      if (!bounds.empty() && bounds.back() == HUGE_VAL) bounds.pop_back();
      for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (!std::isfinite(bounds[i]) || (i && !(bounds[i - 1] < bounds[i]))) {
          return Expect::kRefuse;
        }
      }
      if (bounds.size() > 510) return Expect::kRefuse;  // kMaxRun - 2
    } else {
      bounds.clear();
    }
    for (auto& f : families_) {
      if (f->name != name) continue;
      existing = f.get();
      return f->kind == kind && f->labels == labels && f->bounds == bounds &&
                     f->unit == unit
                 ? Expect::kExisting
                 : Expect::kRefuse;
    }
    const auto mine = taken_names(kind, name);
    for (auto& f : families_) {
      for (const auto& n : taken_names(f->kind, f->name)) {
        if (mine.count(n)) return Expect::kRefuse;
      }
    }
    for (const char* meta : kMetaFamilies) {
      for (const auto& n : taken_names(Kind::kCounter, meta)) {
        if (mine.count(n)) return Expect::kRefuse;
      }
    }
    return Expect::kNew;
  }

  std::string register_family() {
    const auto kind = static_cast<Kind>(in_.below(3));
    const std::string name = metric_name();
    std::string help;
    for (std::size_t i = in_.below(3); i > 0; --i) help += label_value();
    std::vector<std::string> labels(in_.below(4));
    for (auto& l : labels) l = label_name();
    std::vector<double> raw_bounds;
    if (kind == Kind::kHistogram) raw_bounds = bounds();
    static const char* const kUnits[] = {"",      "",    "",       "seconds",
                                         "total", "x y", "counts", "__s"};
    vigil::FamilyOptions options;
    options.unit = kUnits[in_.below(std::size(kUnits))];
    options.max_series = in_.chance(64) ? 1 + in_.below(4) : 0;

    std::vector<double> model_bounds = raw_bounds;
    FamilyModel* existing = nullptr;
    const Expect expected =
        expect(kind, name, labels, model_bounds, options.unit, existing);
    if (expected == Expect::kNew && families_.size() >= kMaxFamilies) {
      return {};
    }
    const std::size_t max_series = options.max_series;
    const std::string unit = options.unit;
    void* got = nullptr;
    try {
      switch (kind) {
        case Kind::kCounter:
          got = &registry_.counter(name, help, labels, std::move(options));
          break;
        case Kind::kGauge:
          got = &registry_.gauge(name, help, labels, std::move(options));
          break;
        case Kind::kHistogram:
          got = &registry_.histogram(name, help, labels, raw_bounds,
                                     std::move(options));
          break;
      }
    } catch (const std::invalid_argument&) {
      if (expected == Expect::kRefuse) return {};
      return "registering '" + name +
             "' threw, but the documented rules "
             "accept it";
    }
    if (expected == Expect::kRefuse) {
      return "registering '" + name + "' (type " +
             std::to_string(static_cast<int>(kind)) +
             ") was accepted, but the documented rules refuse it";
    }
    if (expected == Expect::kExisting) {
      void* had = existing->counter ? static_cast<void*>(existing->counter)
                  : existing->gauge ? static_cast<void*>(existing->gauge)
                                    : static_cast<void*>(existing->histogram);
      return had == got ? std::string()
                        : "re-registering '" + name +
                              "' did not return the existing family";
    }
    auto f = std::make_unique<FamilyModel>();
    f->kind = kind;
    f->name = name;
    f->help = sanitised(help);
    f->labels = labels;
    f->bounds = model_bounds;
    f->unit = unit;
    f->max_series = max_series ? max_series : 10000;
    if (kind == Kind::kCounter)
      f->counter = static_cast<vigil::CounterFamily*>(got);
    if (kind == Kind::kGauge) f->gauge = static_cast<vigil::GaugeFamily*>(got);
    if (kind == Kind::kHistogram) {
      f->histogram = static_cast<vigil::HistogramFamily*>(got);
    }
    families_.push_back(std::move(f));
    return {};
  }

  /// Label values for `f`: usually its arity, sometimes not (must throw).
  std::vector<std::string> values_for(const FamilyModel& f) {
    std::size_t n = f.labels.size();
    if (in_.chance(8)) n = in_.below(5);
    std::vector<std::string> v(n);
    for (auto& s : v) s = label_value();
    return v;
  }

  /// The series `with(values)` must resolve to, with the counts the
  /// lookup adds (docs/sdk/policies.md; Family's comment on the limit).
  std::vector<std::string> resolve(FamilyModel& f,
                                   const std::vector<std::string>& values) {
    std::vector<std::string> clean;
    bool repaired = false;
    for (const auto& v : values) {
      clean.push_back(sanitised(v));
      repaired |= clean.back() != v;
    }
    if (repaired) ++f.rejected;
    auto it = f.series.find(clean);
    if (it != f.series.end() && !it->second.hidden) return clean;
    if (live_user_series(f) >= f.max_series) {
      ++f.dropped;
      const auto overflow = overflow_key(f);
      if (!f.has_overflow) {
        // A series a caller named with the overflow value itself becomes
        // the overflow series (one that was removed starts from zero).
        f.has_overflow = true;
        auto found = f.series.find(overflow);
        if (found == f.series.end()) {
          f.series[overflow] = fresh(f);
        } else if (found->second.hidden) {
          found->second = fresh(f);
        }
      }
      return overflow;
    }
    // New, or removed and back from zero (docs/sdk/policies.md).
    f.series[clean] = fresh(f);
    return clean;
  }

  static SeriesModel fresh(const FamilyModel& f) {
    SeriesModel s;
    s.buckets.assign(f.bounds.size() + 1, 0);
    return s;
  }
  static std::vector<std::string> overflow_key(const FamilyModel& f) {
    return std::vector<std::string>(f.labels.size(),
                                    std::string(vigil::kOverflowLabelValue));
  }
  /// Series that count against the limit: not removed, not the overflow.
  static std::size_t live_user_series(const FamilyModel& f) {
    std::size_t n = 0;
    for (const auto& [key, s] : f.series) {
      n += !s.hidden && !(f.has_overflow && key == overflow_key(f));
    }
    return n;
  }

  void apply(FamilyModel& f, SeriesModel& s, std::size_t handle) {
    const double v = value();
    switch (f.kind) {
      case Kind::kCounter: {
        auto& c = f.counter_handles[handle];
        if (in_.chance(64)) {
          c.inc();
          add_to_counter(s, 1);
        } else {
          c.inc(v);
          if (!(v >= 0) || std::isinf(v)) {
            ++f.rejected;
          } else {
            add_to_counter(s, v);
          }
        }
        break;
      }
      case Kind::kGauge: {
        auto& g = f.gauge_handles[handle];
        const std::size_t how = in_.below(3);
        if (how == 0) {
          g.set(v);
          s.gauge = v;
          s.ops.push_back({Op::kSet, v});
        } else if (how == 1) {
          g.inc(v);
          s.gauge += v;
          s.ops.push_back({Op::kAdd, v});
        } else {
          g.dec(v);
          s.gauge -= v;
          s.ops.push_back({Op::kAdd, -v});
        }
        break;
      }
      case Kind::kHistogram: {
        f.histogram_handles[handle].observe(v);
        if (std::isnan(v)) {
          ++f.rejected;
          break;
        }
        std::size_t i = 0;
        while (i < f.bounds.size() && !(v <= f.bounds[i])) ++i;
        ++s.buckets[i];
        s.sum += v;
        s.ops.push_back({Op::kAdd, v});
        break;
      }
    }
  }

  static void add_to_counter(SeriesModel& s, double v) {
    s.total += v;
    s.magnitude += v;
    s.exact = s.exact && v < 0x1p40 &&
              std::ldexp(v, 10) == std::floor(std::ldexp(v, 10)) &&
              s.magnitude < 0x1p40;
    s.ops.push_back({Op::kAdd, v});
  }

  std::string update() {
    FamilyModel& f = *families_[in_.below(families_.size())];
    // Either a handle taken earlier (maybe of a removed series) or a new
    // lookup.
    if (!f.handle_keys.empty() && in_.chance(96)) {
      const std::size_t handle = in_.below(f.handle_keys.size());
      apply(f, f.series.at(f.handle_keys[handle]), handle);
      return {};
    }
    const std::vector<std::string> values = values_for(f);
    const std::vector<std::string_view> views(values.begin(), values.end());
    try {
      if (f.counter) f.counter_handles.push_back(f.counter->with(views));
      if (f.gauge) f.gauge_handles.push_back(f.gauge->with(views));
      if (f.histogram) f.histogram_handles.push_back(f.histogram->with(views));
    } catch (const std::invalid_argument&) {
      if (values.size() != f.labels.size()) return {};
      return "with() on '" + f.name + "' threw for the right arity";
    }
    if (values.size() != f.labels.size()) {
      return "with() on '" + f.name + "' accepted " +
             std::to_string(values.size()) + " values for " +
             std::to_string(f.labels.size()) + " labels";
    }
    const auto key = resolve(f, values);
    f.handle_keys.push_back(key);
    apply(f, f.series.at(key), f.handle_keys.size() - 1);
    return {};
  }

  std::string remove() {
    FamilyModel& f = *families_[in_.below(families_.size())];
    std::vector<std::string> values;
    if (!f.series.empty() && in_.chance(160)) {
      auto it = f.series.begin();
      std::advance(it, in_.below(f.series.size()));
      values = it->first;
    } else {
      values = values_for(f);
    }
    const std::vector<std::string_view> views(values.begin(), values.end());
    bool removed = false;
    try {
      if (f.counter) removed = f.counter->remove(views);
      if (f.gauge) removed = f.gauge->remove(views);
      if (f.histogram) removed = f.histogram->remove(views);
    } catch (const std::invalid_argument&) {
      if (values.size() != f.labels.size()) return {};
      return "remove() on '" + f.name + "' threw for the right arity";
    }
    if (values.size() != f.labels.size()) {
      return "remove() on '" + f.name + "' accepted the wrong arity";
    }
    std::vector<std::string> clean;
    for (const auto& v : values) clean.push_back(sanitised(v));
    auto it = f.series.find(clean);
    // Only a live series is removed, and never the overflow series.
    const bool removable = it != f.series.end() && !it->second.hidden &&
                           !(f.has_overflow && clean == overflow_key(f));
    if (removed != removable) {
      return "remove() on '" + f.name + "' returned " +
             (removed ? "true" : "false") + " against the model";
    }
    if (removed) it->second.hidden = true;
    return {};
  }

  ByteStream& in_;
  vigil::Registry registry_;
  std::vector<std::unique_ptr<FamilyModel>> families_;
};

/// A sample's identity: name and labels sorted by name, with `le` as the
/// index of its bucket (prometheus-cpp spells bounds differently).
using Key = std::pair<std::string, std::map<std::string, std::string>>;

inline std::string describe(const Key& key) {
  std::string s = key.first + "{";
  for (const auto& [n, v] : key.second) s += n + "=\"" + v + "\",";
  return s + "}";
}

struct Expected {
  double value;
  enum { kBits, kZeroSignFree, kApprox } match;
  double tolerance = 0;
};

inline bool same_value(const Expected& e, double got) {
  if (std::isnan(e.value) || std::isnan(got)) {
    return std::isnan(e.value) && std::isnan(got);
  }
  switch (e.match) {
    case Expected::kBits:
      return e.value == got && std::signbit(e.value) == std::signbit(got);
    case Expected::kZeroSignFree:
      return e.value == got;
    case Expected::kApprox:
      if (std::isinf(e.value) || std::isinf(got)) return e.value == got;
      return std::abs(e.value - got) <= e.tolerance;
  }
  return false;
}

inline std::string format_double(double v) { return grammar::go_shortest_g(v); }

/// Samples of one parsed exposition keyed for comparison; `le` becomes the
/// bucket index in `f`'s bounds (matched within `le_tolerance`). Returns
/// an error for duplicates or an `le` that is no bound of the family.
inline std::string key_samples(
    const grammar::ParsedExposition& parsed,
    const std::map<std::string, const FamilyModel*>& by_sample_family,
    double le_tolerance, std::map<Key, double>& out) {
  for (const auto& family : parsed.families) {
    for (const auto& s : family.samples) {
      Key key{s.name, {}};
      for (const auto& [n, v] : s.labels) key.second[n] = v;
      auto fam = by_sample_family.find(family.name);
      if (fam != by_sample_family.end() &&
          fam->second->kind == Kind::kHistogram && s.name.size() > 7 &&
          s.name.compare(s.name.size() - 7, 7, "_bucket") == 0) {
        auto le = key.second.find("le");
        if (le == key.second.end()) return "bucket without le: " + s.name;
        const auto bound = grammar::parse_float(le->second, {});
        if (!bound) return "bad le " + le->second;
        const auto& bounds = fam->second->bounds;
        std::size_t index = bounds.size();
        bool found = le->second == "+Inf";
        for (std::size_t i = 0; i < bounds.size() && !found; ++i) {
          // 16 digits of +-DBL_MAX read back as an infinity.
          const bool overflowed =
              std::isinf(*bound) && le_tolerance > 0 &&
              std::abs(bounds[i]) > 1.797693134862315e308 &&
              std::signbit(bounds[i]) == std::signbit(*bound);
          if (bounds[i] == *bound || overflowed ||
              std::abs(bounds[i] - *bound) <=
                  le_tolerance * std::abs(bounds[i])) {
            index = i;
            found = true;
          }
        }
        if (!found) {
          return "le=\"" + le->second + "\" is no bound of " + family.name;
        }
        le->second = std::to_string(index);
      }
      if (!out.emplace(key, s.value).second) {
        return "duplicate sample " + describe(key);
      }
    }
  }
  return {};
}

/// What a scrape in `dialect` must contain, per the model.
inline std::map<Key, Expected> expected_samples(
    const std::vector<std::unique_ptr<FamilyModel>>& families,
    grammar::Dialect dialect) {
  std::map<Key, Expected> out;
  const bool om = dialect == grammar::Dialect::kOpenMetrics;
  const auto counter_sample = [&](const std::string& name) {
    if (!om) return name;
    if (name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0) {
      return name;
    }
    return name + "_total";
  };
  for (const auto& f : families) {
    for (const auto& [values, s] : f->series) {
      if (s.hidden) continue;
      std::map<std::string, std::string> labels;
      for (std::size_t i = 0; i < values.size(); ++i) {
        labels[f->labels[i]] = values[i];
      }
      switch (f->kind) {
        case Kind::kCounter:
          out[{counter_sample(f->name), labels}] =
              s.exact
                  ? Expected{s.total, Expected::kZeroSignFree}
                  : Expected{s.total, Expected::kApprox, s.magnitude * 1e-12};
          break;
        case Kind::kGauge:
          out[{f->name, labels}] = {s.gauge, Expected::kBits};
          break;
        case Kind::kHistogram: {
          std::uint64_t cumulative = 0;
          for (std::size_t i = 0; i < s.buckets.size(); ++i) {
            cumulative += s.buckets[i];
            auto with_le = labels;
            with_le["le"] = std::to_string(i);
            out[{f->name + "_bucket", with_le}] = {
                static_cast<double>(cumulative), Expected::kBits};
          }
          out[{f->name + "_count", labels}] = {static_cast<double>(cumulative),
                                               Expected::kBits};
          out[{f->name + "_sum", labels}] = {s.sum, Expected::kZeroSignFree};
          break;
        }
      }
    }
  }
  for (std::size_t meta = 0; meta < 2; ++meta) {
    for (const auto& f : families) {
      const std::uint64_t n = meta == 0 ? f->rejected : f->dropped;
      if (n == 0) continue;
      out[{kMetaFamilies[meta], {{"metric", f->name}}}] = {
          static_cast<double>(n), Expected::kBits};
    }
  }
  return out;
}

/// The family metadata a scrape must have: name -> (type, help, unit).
struct Meta {
  std::string type;
  std::optional<std::string> help;
  std::optional<std::string> unit;
};

inline std::map<std::string, Meta> expected_meta(
    const std::vector<std::unique_ptr<FamilyModel>>& families,
    grammar::Dialect dialect) {
  const bool om = dialect == grammar::Dialect::kOpenMetrics;
  std::map<std::string, Meta> out;
  const auto family_name = [&](Kind kind, const std::string& name) {
    if (om && kind == Kind::kCounter && name.size() > 6 &&
        name.compare(name.size() - 6, 6, "_total") == 0) {
      return name.substr(0, name.size() - 6);
    }
    return name;
  };
  for (const auto& f : families) {
    static const char* const kTypes[] = {"counter", "gauge", "histogram"};
    Meta m{kTypes[static_cast<int>(f->kind)], {}, {}};
    if (!f->help.empty()) m.help = f->help;
    if (om && !f->unit.empty()) m.unit = f->unit;
    out[family_name(f->kind, f->name)] = m;
  }
  return out;
}

/// Checks one of vigil's scrapes against the model. Returns "" or what
/// is wrong.
inline std::string check_scrape(
    const std::string& body, grammar::Dialect dialect,
    const std::vector<std::unique_ptr<FamilyModel>>& families) {
  const bool om = dialect == grammar::Dialect::kOpenMetrics;
  const char* format = om ? "OpenMetrics" : "text";
  const auto parsed = grammar::parse(body, dialect);
  if (!parsed.error.empty()) {
    return std::string(format) + " scrape does not parse: " + parsed.error;
  }
  // Metadata: every family, once, with its help and unit; meta families
  // only when they have samples (checked below with the samples).
  auto meta = expected_meta(families, dialect);
  std::map<std::string, const FamilyModel*> by_family;
  for (const auto& f : families) {
    std::string name = f->name;
    if (om && f->kind == Kind::kCounter && name.size() > 6 &&
        name.compare(name.size() - 6, 6, "_total") == 0) {
      name.resize(name.size() - 6);
    }
    by_family[name] = f.get();
  }
  for (const auto& family : parsed.families) {
    auto it = meta.find(family.name);
    if (it == meta.end()) {
      bool is_meta = false;
      for (const char* m : kMetaFamilies) {
        const std::string name =
            om ? std::string(m).substr(0, std::strlen(m) - 6) : m;
        is_meta |= family.name == name && family.type == "counter";
      }
      if (!is_meta)
        return std::string(format) + ": unexpected family " + family.name;
      if (family.samples.empty()) {
        return std::string(format) + ": meta family without samples " +
               family.name;
      }
      continue;
    }
    if (family.type != it->second.type || family.help != it->second.help ||
        family.unit != it->second.unit) {
      return std::string(format) + ": metadata of " + family.name +
             " differs from the model (type " + family.type + ", help " +
             (family.help ? "\"" + *family.help + "\"" : "none") + ")";
    }
    meta.erase(it);
  }
  if (!meta.empty()) {
    return std::string(format) + ": family " + meta.begin()->first + " missing";
  }
  std::map<Key, double> got;
  if (auto error = key_samples(parsed, by_family, 0, got); !error.empty()) {
    return std::string(format) + ": " + error;
  }
  // Histogram invariants straight from the parsed samples: buckets
  // cumulative, `+Inf` equal to `_count`.
  for (const auto& family : parsed.families) {
    if (family.type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<double>> runs;
    for (const auto& [key, v] : got) {
      if (key.first != family.name + "_bucket") continue;
      auto labels = key.second;
      const auto index = std::stoul(labels["le"]);
      labels.erase("le");
      auto& run = runs[labels];
      if (run.size() <= index) run.resize(index + 1, -1);
      run[index] = v;
    }
    for (const auto& [labels, run] : runs) {
      for (std::size_t i = 1; i < run.size(); ++i) {
        if (run[i] < run[i - 1]) {
          return std::string(format) + ": buckets of " + family.name +
                 " decrease";
        }
      }
      const auto count = got.find({family.name + "_count", labels});
      if (count == got.end() || count->second != run.back()) {
        return std::string(format) + ": " + family.name +
               "_count differs from its +Inf bucket";
      }
    }
  }
  const auto want = expected_samples(families, dialect);
  for (const auto& [key, e] : want) {
    auto it = got.find(key);
    if (it == got.end()) {
      return std::string(format) +
             ": recorded sample missing: " + describe(key);
    }
    if (!same_value(e, it->second)) {
      return std::string(format) + ": " + describe(key) + " is " +
             format_double(it->second) + ", recorded " + format_double(e.value);
    }
  }
  for (const auto& [key, v] : got) {
    if (!want.count(key)) {
      return std::string(format) + ": unrecorded sample " + describe(key);
    }
  }
  return {};
}

/// A series' labels in prometheus-cpp's form.
inline prometheus::Labels labels_of(const FamilyModel& f,
                                    const std::vector<std::string>& values) {
  prometheus::Labels labels;
  for (std::size_t i = 0; i < values.size(); ++i) {
    labels[f.labels[i]] = values[i];
  }
  return labels;
}

/// The same data in a prometheus::Registry, serialised by TextSerializer,
/// compared sample by sample with vigil's text scrape. Only where the two
/// libraries document the same behaviour: prometheus-cpp gets each series
/// under the label values vigil stores (after the U+FFFD repair, which
/// prometheus-cpp does not do; it writes any bytes), only the updates vigil
/// accepts (prometheus-cpp adds a NaN increment or observation), no hidden
/// series (prometheus-cpp's Remove forgets the value), and a plain help
/// (prometheus-cpp 1.0 does not escape newlines in HELP). vigil's own meta
/// families have no prometheus-cpp counterpart. Numbers are compared as
/// parsed doubles: prometheus-cpp prints 16 significant digits.
inline std::string check_against_prometheus_cpp(
    const std::string& vigil_text,
    const std::vector<std::unique_ptr<FamilyModel>>& families) {
  prometheus::Registry theirs;
  std::map<std::string, const FamilyModel*> by_family;
  for (const auto& f : families) {
    by_family[f->name] = f.get();
    try {
      switch (f->kind) {
        case Kind::kCounter: {
          auto& family =
              prometheus::BuildCounter().Name(f->name).Help("h").Register(
                  theirs);
          for (const auto& [values, s] : f->series) {
            if (s.hidden) continue;
            auto& c = family.Add(labels_of(*f, values));
            for (const auto& op : s.ops) c.Increment(op.value);
          }
          break;
        }
        case Kind::kGauge: {
          auto& family =
              prometheus::BuildGauge().Name(f->name).Help("h").Register(theirs);
          for (const auto& [values, s] : f->series) {
            if (s.hidden) continue;
            auto& g = family.Add(labels_of(*f, values));
            for (const auto& op : s.ops) {
              if (op.what == Op::kSet) {
                g.Set(op.value);
              } else {
                g.Increment(op.value);
              }
            }
          }
          break;
        }
        case Kind::kHistogram: {
          auto& family =
              prometheus::BuildHistogram().Name(f->name).Help("h").Register(
                  theirs);
          for (const auto& [values, s] : f->series) {
            if (s.hidden) continue;
            auto& h = family.Add(labels_of(*f, values),
                                 prometheus::Histogram::BucketBoundaries(
                                     f->bounds.begin(), f->bounds.end()));
            for (const auto& op : s.ops) h.Observe(op.value);
          }
          break;
        }
      }
    } catch (const std::invalid_argument& e) {
      return std::string("prometheus-cpp refused what vigil accepted: ") +
             e.what();
    }
  }
  const std::string their_text =
      prometheus::TextSerializer().Serialize(theirs.Collect());
  const auto theirs_parsed = grammar::parse(their_text, grammar::Dialect::kText,
                                            {/*any_case_nan=*/true});
  if (!theirs_parsed.error.empty()) {
    return "prometheus-cpp's scrape does not parse: " + theirs_parsed.error;
  }
  const auto ours_parsed = grammar::parse(vigil_text, grammar::Dialect::kText);
  std::map<Key, double> ours, their_samples;
  // 16 significant digits: bounds within 1e-15 of one of the family's.
  if (auto e = key_samples(theirs_parsed, by_family, 1e-15, their_samples);
      !e.empty()) {
    return "prometheus-cpp: " + e;
  }
  if (auto e = key_samples(ours_parsed, by_family, 0, ours); !e.empty()) {
    return e;
  }
  for (const char* meta : kMetaFamilies) {
    for (auto it = ours.begin(); it != ours.end();) {
      it = it->first.first == meta ? ours.erase(it) : std::next(it);
    }
  }
  for (const auto& [key, v] : their_samples) {
    auto it = ours.find(key);
    if (it == ours.end()) {
      return "prometheus-cpp has " + describe(key) + ", vigil does not";
    }
    const double scale = std::max(std::abs(v), std::abs(it->second));
    const bool same = (std::isnan(v) && std::isnan(it->second)) ||
                      v == it->second ||
                      std::abs(v - it->second) <= 1e-15 * scale * 4;
    if (!same) {
      return describe(key) + ": vigil " + format_double(it->second) +
             ", prometheus-cpp " + format_double(v);
    }
  }
  if (ours.size() != their_samples.size()) {
    for (const auto& [key, v] : ours) {
      if (!their_samples.count(key)) {
        return "vigil has " + describe(key) + ", prometheus-cpp does not";
      }
    }
  }
  return {};
}

/// Builds the registry from `data` and runs every check: returns "" or
/// the first failure.
inline std::string run_case(const std::uint8_t* data, std::size_t size) {
  ByteStream in(data, size);
  Generator generator(in);
  if (auto error = generator.run(); !error.empty()) return error;
  const std::string text =
      generator.registry().scrape(vigil::ExpositionFormat::kPrometheusText);
  const std::string om =
      generator.registry().scrape(vigil::ExpositionFormat::kOpenMetrics);
  for (const auto& [body, dialect] :
       {std::pair{&text, grammar::Dialect::kText},
        std::pair{&om, grammar::Dialect::kOpenMetrics}}) {
    if (auto error = check_scrape(*body, dialect, generator.families());
        !error.empty()) {
      return error + "\n--- scrape ---\n" + *body;
    }
  }
  if (auto error = check_against_prometheus_cpp(text, generator.families());
      !error.empty()) {
    return "differential: " + error + "\n--- vigil ---\n" + text;
  }
  return {};
}

/// The input of the property test's case `seed` (and of
/// vigil_exposition_sample random<seed>): up to 2 KiB of mt19937_64 bytes.
inline std::vector<std::uint8_t> random_bytes(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> bytes(rng() % 2048);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  return bytes;
}

}  // namespace vigil_test::model
