#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace kafka {

struct JsonMember;

/// A parsed JSON value: just enough JSON to read librdkafka's statistics
/// without adding a JSON library to every program that links vigil::kafka.
///
/// Thread-safety: a JsonValue is immutable once parsed; share it freely.
///
///     auto doc = vigil::kafka::parse_json(R"({"replyq": 5})");
///     double replyq = doc ? doc->number_at("replyq") : 0;
class JsonValue {
 public:
  /// The kinds of JSON value.
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;

  /// Which kind of value this is (kNull for a default-constructed one).
  Type type() const noexcept { return type_; }
  /// Whether this is an object.
  bool is_object() const noexcept { return type_ == Type::kObject; }
  /// Whether this is a number.
  bool is_number() const noexcept { return type_ == Type::kNumber; }
  /// Whether this is a string.
  bool is_string() const noexcept { return type_ == Type::kString; }

  /// The number, or `fallback` if this is not one.
  double number(double fallback = 0) const noexcept {
    return type_ == Type::kNumber ? number_ : fallback;
  }
  /// The boolean, or false if this is not one.
  bool boolean() const noexcept { return type_ == Type::kBool && boolean_; }
  /// The string, or empty if this is not one.
  const std::string& string() const noexcept { return string_; }
  /// Array elements in document order; empty if this is not an array.
  const std::vector<JsonValue>& items() const noexcept { return items_; }
  /// Object members in document order (duplicates kept).
  inline const std::vector<JsonMember>& members() const noexcept;
  /// The first member called `key`, or nullptr (also for non-objects).
  inline const JsonValue* find(std::string_view key) const noexcept;
  /// find(key)->number(fallback), tolerating a missing key.
  inline double number_at(std::string_view key,
                          double fallback = 0) const noexcept;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool boolean_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<JsonMember> members_;
};

/// One member of a JSON object.
struct JsonMember {
  /// The member's name, unescaped.
  std::string key;
  /// The member's value.
  JsonValue value;
};

inline const std::vector<JsonMember>& JsonValue::members() const noexcept {
  return members_;
}
inline const JsonValue* JsonValue::find(std::string_view key) const noexcept {
  for (const auto& m : members_) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}
inline double JsonValue::number_at(std::string_view key,
                                   double fallback) const noexcept {
  const JsonValue* v = find(key);
  return v != nullptr ? v->number(fallback) : fallback;
}

/// A strict RFC 8259 parser. Input comes from a library we do not control,
/// so it bounds nesting (a deep document cannot overflow the stack) and
/// rejects rather than guesses: invalid escapes, unpaired surrogates, control
/// characters in strings, leading zeros, trailing garbage.
///
/// Thread-safety: one parser per document and thread; it is single-use.
///
///     std::optional<JsonValue> doc = JsonParser(text).parse();
class JsonParser {
 public:
  /// A parser of `text`, which must outlive it, accepting at most
  /// `max_depth` levels of nested arrays and objects.
  explicit JsonParser(std::string_view text, std::size_t max_depth = 64)
      : text_(text), max_depth_(max_depth) {}

  /// The document, or nullopt if the text is not exactly one JSON value
  /// (whitespace around it allowed) or nests too deep. Call it once.
  std::optional<JsonValue> parse() {
    JsonValue root;
    skip_space();
    if (!value(root, 0)) return std::nullopt;
    skip_space();
    if (pos_ != text_.size()) return std::nullopt;
    return root;
  }

 private:
  bool value(JsonValue& out, std::size_t depth) {
    if (pos_ >= text_.size()) return false;
    switch (text_[pos_]) {
      case '{':
        return object(out, depth + 1);
      case '[':
        return array(out, depth + 1);
      case '"':
        out.type_ = JsonValue::Type::kString;
        return string(out.string_);
      case 't':
        out.type_ = JsonValue::Type::kBool;
        out.boolean_ = true;
        return literal("true");
      case 'f':
        out.type_ = JsonValue::Type::kBool;
        return literal("false");
      case 'n':
        return literal("null");
      default:
        out.type_ = JsonValue::Type::kNumber;
        return number(out.number_);
    }
  }

  bool object(JsonValue& out, std::size_t depth) {
    if (depth > max_depth_) return false;
    out.type_ = JsonValue::Type::kObject;
    ++pos_;  // '{'
    skip_space();
    if (consume('}')) return true;
    for (;;) {
      JsonMember member;
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return false;
      if (!string(member.key)) return false;
      skip_space();
      if (!consume(':')) return false;
      skip_space();
      if (!value(member.value, depth)) return false;
      out.members_.push_back(std::move(member));
      skip_space();
      if (consume('}')) return true;
      if (!consume(',')) return false;
    }
  }

  bool array(JsonValue& out, std::size_t depth) {
    if (depth > max_depth_) return false;
    out.type_ = JsonValue::Type::kArray;
    ++pos_;  // '['
    skip_space();
    if (consume(']')) return true;
    for (;;) {
      skip_space();
      out.items_.emplace_back();
      if (!value(out.items_.back(), depth)) return false;
      skip_space();
      if (consume(']')) return true;
      if (!consume(',')) return false;
    }
  }

  bool string(std::string& out) {
    ++pos_;  // '"'
    for (;;) {
      if (pos_ >= text_.size()) return false;
      const unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= text_.size()) return false;
      switch (text_[pos_++]) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // lone low half
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t low = 0;
            if (!consume('\\') || !consume('u') || !hex4(low) || low < 0xDC00 ||
                low > 0xDFFF) {
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
  }

  bool hex4(std::uint32_t& out) {
    if (text_.size() - pos_ < 4) return false;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') {
        out |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        out |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        out |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Validates the JSON number grammar first: std::from_chars alone would
  // accept "inf", "nan", hex floats and leading zeros.
  bool number(double& out) {
    const std::size_t start = pos_;
    consume('-');
    if (consume('0')) {
      // no further integer digits allowed
    } else if (!digits()) {
      return false;
    }
    if (consume('.') && !digits()) return false;
    if (consume('e') || consume('E')) {
      if (!consume('+')) consume('-');
      if (!digits()) return false;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    const auto result = std::from_chars(first, last, out);
    // Magnitudes beyond a double are rejected: librdkafka never emits them.
    return result.ptr == last && result.ec == std::errc();
  }

  bool digits() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      ++pos_;
    }
    return pos_ > start;
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
};

/// Parses a whole JSON document; nullopt if it is not valid JSON or nests
/// deeper than `max_depth`.
inline std::optional<JsonValue> parse_json(std::string_view text,
                                           std::size_t max_depth = 64) {
  return JsonParser(text, max_depth).parse();
}

}  // namespace kafka
VIGIL_NAMESPACE_END
