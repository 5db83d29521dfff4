#pragma once
// UTF-8 validation shared by every writer of text meant for other programs
// (JSON logs and health reports, both exposition formats): one validator, so
// they agree on what is well-formed.

#include <cstdint>
#include <string>
#include <string_view>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// U+FFFD REPLACEMENT CHARACTER, encoded.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

/// The length of the well-formed UTF-8 sequence at the start of `text`
/// (1-4), or 0 when it is not one: a stray continuation byte, a truncated
/// sequence, an overlong form, a surrogate or a code point past U+10FFFF.
inline std::size_t utf8_sequence_length(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code = lead & 0x1Fu;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code = lead & 0x0Fu;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code = lead & 0x07u;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[i]);
    if ((next & 0xC0) != 0x80) return 0;
    code = (code << 6) | (next & 0x3Fu);
  }
  constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[length] || code > 0x10FFFF ||
      (code >= 0xD800 && code <= 0xDFFF)) {
    return 0;
  }
  return length;
}

/// Whether `text` is well-formed UTF-8 throughout.
inline bool valid_utf8(std::string_view text) {
  while (!text.empty()) {
    // ASCII needs no decoding; label values are nearly always ASCII.
    if (static_cast<unsigned char>(text[0]) < 0x80) {
      text.remove_prefix(1);
      continue;
    }
    const std::size_t length = utf8_sequence_length(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

/// Appends `text` to `out`: each ASCII character through `escape(out, c)`,
/// well-formed multi-byte sequences unchanged, and `replacement` for every
/// byte that is not part of a well-formed sequence.
template <class EscapeAscii>
void append_utf8(std::string& out, std::string_view text,
                 std::string_view replacement, EscapeAscii&& escape) {
  while (!text.empty()) {
    const std::size_t length = utf8_sequence_length(text);
    if (length == 1) {
      escape(out, text[0]);
    } else if (length == 0) {
      out.append(replacement.data(), replacement.size());
    } else {
      out.append(text.data(), length);
    }
    text.remove_prefix(length == 0 ? 1 : length);
  }
}

/// `text` with every byte that is not part of a well-formed sequence
/// replaced by U+FFFD.
inline std::string sanitised_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_utf8(out, text, kReplacementCharacter,
              [](std::string& o, char c) { o += c; });
  return out;
}

}  // namespace detail
VIGIL_NAMESPACE_END
