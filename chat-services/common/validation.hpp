#pragma once
// Input rules shared by the API and the router.

#include <string>
#include <string_view>

namespace chat {

/// 1–128 characters of `[A-Za-z0-9_.:+-]` (the original clients name
/// conversations like `user_a-whatsapp:+5511999999999`; `conv_…` and UUIDs
/// fit too).
bool valid_conversation_id(std::string_view id);

/// Well-formed UTF-8: no overlongs, surrogates or code points past U+10FFFF.
bool valid_utf8(std::string_view text);

/// Where a message goes.
enum class Channel { kLocal, kWhatsApp, kInstagram };

/// `whatsapp:+<digits>` (7–15 digits, E.164), `instagram:@<name>`
/// (1–30 of `[A-Za-z0-9._]`), or a local user's id or username
/// (`[A-Za-z0-9_.-]`, 1–64).
/// Returns false when `recipient` matches none.
bool parse_recipient(std::string_view recipient, Channel& channel);

/// `type/subtype[; parameters]` of printable ASCII, at most 255 bytes: safe
/// to store and to echo in a header line.
bool valid_media_type(std::string_view type);

/// 3–32 characters of `[A-Za-z0-9_.-]`.
bool valid_username(std::string_view name);

/// A client's file name made fit for metadata and headers: only what follows
/// the last '/' or '\\', control characters dropped, invalid UTF-8 bytes as
/// '_', surrounding spaces trimmed, at most 255 bytes; "file" when nothing
/// (or only "." or "..") remains. It is never used as a path.
std::string sanitize_filename(std::string_view name);

}  // namespace chat
