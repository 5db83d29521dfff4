#include "validation.hpp"

#include <vigil/detail/json.hpp>

namespace chat {
namespace {

bool all_of(std::string_view text, bool (*accept)(char)) {
  for (const char c : text) {
    if (!accept(c)) return false;
  }
  return true;
}

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

bool valid_conversation_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && all_of(id, [](char c) {
    return alnum(c) || c == '_' || c == '.' || c == ':' || c == '-' ||
           c == '+';
  });
}

bool valid_utf8(std::string_view text) {
  // The same decoder that keeps vigil's log lines valid UTF-8.
  while (!text.empty()) {
    const std::size_t length = vigil::detail::utf8_sequence_length(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

bool parse_recipient(std::string_view recipient, Channel& channel) {
  if (starts_with(recipient, "whatsapp:+")) {
    const auto digits = recipient.substr(10);
    channel = Channel::kWhatsApp;
    return digits.size() >= 7 && digits.size() <= 15 &&
           all_of(digits, [](char c) { return c >= '0' && c <= '9'; });
  }
  if (starts_with(recipient, "instagram:@")) {
    const auto name = recipient.substr(11);
    channel = Channel::kInstagram;
    return !name.empty() && name.size() <= 30 && all_of(name, [](char c) {
      return alnum(c) || c == '.' || c == '_';
    });
  }
  channel = Channel::kLocal;
  return !recipient.empty() && recipient.size() <= 64 &&
         all_of(recipient, [](char c) {
           return alnum(c) || c == '_' || c == '-' || c == '.';
         });
}

bool valid_media_type(std::string_view type) {
  const auto slash = type.find('/');
  return slash != std::string_view::npos && slash > 0 &&
         slash + 1 < type.size() && type.size() <= 255 &&
         all_of(type, [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return u >= 0x20 && u < 0x7f;
         });
}

bool valid_username(std::string_view name) {
  return name.size() >= 3 && name.size() <= 32 && all_of(name, [](char c) {
           return alnum(c) || c == '_' || c == '.' || c == '-';
         });
}

std::string sanitize_filename(std::string_view name) {
  const auto separator = name.find_last_of("/\\");
  if (separator != std::string_view::npos) name.remove_prefix(separator + 1);
  std::string kept;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) kept += c;
  }
  if (!valid_utf8(kept)) {
    for (char& c : kept) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '_';
    }
  }
  const auto first = kept.find_first_not_of(' ');
  kept = first == std::string::npos
             ? std::string()
             : kept.substr(first, kept.find_last_not_of(' ') - first + 1);
  constexpr std::size_t kMaxBytes = 255;
  if (kept.size() > kMaxBytes) {
    std::size_t cut = kMaxBytes;
    // Back up to the start of a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(kept[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    kept.resize(cut);
  }
  if (kept.empty() || kept == "." || kept == "..") return "file";
  return kept;
}

}  // namespace chat
