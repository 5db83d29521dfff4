#pragma once
// The JSON events on the Kafka topics. The API writes MessageEvents to
// `messages`; the router reads them, and whatever fails to parse goes to
// `dead-letter` with the reason instead of blocking its partition.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "message_status.hpp"
#include "store.hpp"

namespace chat {

/// Largest accepted message content, in bytes.
inline constexpr std::size_t kMaxContentBytes = 10 * 1024;

/// A message accepted by the API (topic `messages`, key conversation_id).
struct MessageEvent {
  std::string message_id;
  std::string conversation_id;
  std::string sender_id;
  std::string recipient_id;  // empty: none
  std::string content;
  std::string content_type = "text/plain";
  std::string file_id;  // empty: none
  std::int64_t timestamp_ms = 0;
};

std::string to_json(const MessageEvent& event);

/// Parses and validates a MessageEvent; nullopt with the reason in `why`
/// for anything malformed (bad JSON, missing or mistyped fields, invalid
/// ids, content too long or not UTF-8).
std::optional<MessageEvent> parse_message_event(std::string_view json,
                                                std::string& why);

MessageRecord to_record(const MessageEvent& event);

/// A status change reported by a connector (topic `status-updates`).
struct StatusEvent {
  std::string message_id;
  MessageStatus status = MessageStatus::kSent;
  std::int64_t at_ms = 0;
  std::string platform_message_id;  // set with DELIVERED
};

std::string to_json(const StatusEvent& event);
std::optional<StatusEvent> parse_status_event(std::string_view json,
                                              std::string& why);

}  // namespace chat
