#pragma once
// RFC 4648 §5 base64url without padding, as JWTs and signed URLs use it.

#include <optional>
#include <string>
#include <string_view>

namespace chat {

std::string base64url_encode(std::string_view bytes);

/// Returns nullopt for characters outside the alphabet, padding, or a length
/// that no encoding produces.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace chat
