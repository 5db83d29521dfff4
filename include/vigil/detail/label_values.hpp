#pragma once
// A series' label values and their rendered text in one allocation: a
// series record is mostly its labels, and vector<string> plus a string cost
// three allocations and 56 bytes of headers for what is usually a few bytes.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/detail/names.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// Immutable label values of one series, plus `a="x",b="y"` rendered once
/// so scrapes only copy it. Layout of the block: n + 1 end offsets (the n
/// values, then the text), then the characters.
class LabelValues {
 public:
  LabelValues(const std::vector<std::string>& names,
              const std::string_view* values, std::size_t n)
      : size_(static_cast<std::uint32_t>(n)) {
    const std::string text = render_labels(names, values);
    std::size_t chars = text.size();
    for (std::size_t i = 0; i < n; ++i) chars += values[i].size();
    if (chars > UINT32_MAX) {
      throw std::length_error("vigil: label values too long");
    }
    const std::size_t header = (n + 1) * sizeof(std::uint32_t);
    data_ = std::make_unique<char[]>(header + chars);
    char* out = data_.get() + header;
    std::uint32_t end = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::memcpy(out + end, values[i].data(), values[i].size());
      end += static_cast<std::uint32_t>(values[i].size());
      set_end(i, end);
    }
    std::memcpy(out + end, text.data(), text.size());
    set_end(n, end + static_cast<std::uint32_t>(text.size()));
  }

  std::size_t size() const noexcept { return size_; }
  std::string_view operator[](std::size_t i) const noexcept {
    const std::uint32_t begin = i ? end(i - 1) : 0;
    return {chars() + begin, end(i) - begin};
  }
  /// `a="x",b="y"`, escaped for the exposition formats.
  std::string_view text() const noexcept {
    const std::uint32_t begin = size_ ? end(size_ - 1) : 0;
    return {chars() + begin, end(size_) - begin};
  }

  bool equals(const std::string_view* values, std::size_t n) const noexcept {
    if (n != size_) return false;
    for (std::size_t i = 0; i < n; ++i) {
      if ((*this)[i] != values[i]) return false;
    }
    return true;
  }

 private:
  std::uint32_t end(std::size_t i) const noexcept {
    std::uint32_t e;
    std::memcpy(&e, data_.get() + i * sizeof e, sizeof e);
    return e;
  }
  void set_end(std::size_t i, std::uint32_t e) noexcept {
    std::memcpy(data_.get() + i * sizeof e, &e, sizeof e);
  }
  const char* chars() const noexcept {
    return data_.get() + (size_ + 1) * sizeof(std::uint32_t);
  }

  std::unique_ptr<char[]> data_;
  std::uint32_t size_;
};

}  // namespace detail
VIGIL_NAMESPACE_END
