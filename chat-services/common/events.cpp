#include "events.hpp"

#include <nlohmann/json.hpp>

#include "validation.hpp"

namespace chat {
namespace {

using nlohmann::json;

/// Reads a required string member; sets `why` and returns false otherwise.
bool read_string(const json& object, const char* key, std::string& out,
                 std::string& why, bool required = true) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) why = std::string("missing ") + key;
    return !required;
  }
  if (!it->is_string()) {
    why = std::string(key) + " is not a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool read_time(const json& object, const char* key, std::int64_t& out,
               std::string& why) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer() ||
      it->get<std::int64_t>() < 0) {
    why = std::string(key) + " is not a non-negative integer";
    return false;
  }
  out = it->get<std::int64_t>();
  return true;
}

std::optional<json> parse_object(std::string_view text, std::string& why) {
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    why = "not a JSON object";
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string to_json(const MessageEvent& e) {
  json out = {{"message_id", e.message_id},
              {"conversation_id", e.conversation_id},
              {"sender_id", e.sender_id},
              {"content", e.content},
              {"timestamp", e.timestamp_ms}};
  if (!e.recipient_id.empty()) out["recipient_id"] = e.recipient_id;
  if (!e.file_id.empty()) out["file_id"] = e.file_id;
  if (e.content_type != "text/plain") out["content_type"] = e.content_type;
  return out.dump();
}

std::optional<MessageEvent> parse_message_event(std::string_view text,
                                                std::string& why) {
  const auto object = parse_object(text, why);
  if (!object) return std::nullopt;
  MessageEvent e;
  if (!read_string(*object, "message_id", e.message_id, why) ||
      !read_string(*object, "conversation_id", e.conversation_id, why) ||
      !read_string(*object, "sender_id", e.sender_id, why) ||
      !read_string(*object, "content", e.content, why) ||
      !read_string(*object, "recipient_id", e.recipient_id, why, false) ||
      !read_string(*object, "file_id", e.file_id, why, false) ||
      !read_string(*object, "content_type", e.content_type, why, false) ||
      !read_time(*object, "timestamp", e.timestamp_ms, why)) {
    return std::nullopt;
  }
  Channel channel;
  if (e.message_id.empty() || e.message_id.size() > 64) {
    why = "invalid message_id";
  } else if (!valid_conversation_id(e.conversation_id)) {
    why = "invalid conversation_id";
  } else if (e.sender_id.empty()) {
    why = "empty sender_id";
  } else if (e.content.empty() || e.content.size() > kMaxContentBytes) {
    why = "content empty or over 10 KiB";
  } else if (!valid_utf8(e.content)) {
    why = "content is not valid UTF-8";
  } else if (!e.recipient_id.empty() &&
             !parse_recipient(e.recipient_id, channel)) {
    why = "invalid recipient_id";
  } else if (!valid_media_type(e.content_type)) {
    why = "invalid content_type";
  } else {
    return e;
  }
  return std::nullopt;
}

MessageRecord to_record(const MessageEvent& e) {
  MessageRecord record;
  record.message_id = e.message_id;
  record.conversation_id = e.conversation_id;
  record.sender_id = e.sender_id;
  record.recipient_id = e.recipient_id;
  record.content = e.content;
  record.content_type = e.content_type;
  record.file_id = e.file_id;
  record.timestamp_ms = e.timestamp_ms;
  return record;
}

std::string to_json(const StatusEvent& e) {
  json out = {{"message_id", e.message_id},
              {"status", to_string(e.status)},
              {"at", e.at_ms}};
  if (!e.platform_message_id.empty()) {
    out["platform_message_id"] = e.platform_message_id;
  }
  return out.dump();
}

std::optional<StatusEvent> parse_status_event(std::string_view text,
                                              std::string& why) {
  const auto object = parse_object(text, why);
  if (!object) return std::nullopt;
  StatusEvent e;
  std::string status;
  if (!read_string(*object, "message_id", e.message_id, why) ||
      !read_string(*object, "status", status, why) ||
      !read_time(*object, "at", e.at_ms, why) ||
      !read_string(*object, "platform_message_id", e.platform_message_id, why,
                   false)) {
    return std::nullopt;
  }
  const auto parsed = parse_status(status);
  if (!parsed) {
    why = "unknown status '" + status + "'";
    return std::nullopt;
  }
  e.status = *parsed;
  return e;
}

}  // namespace chat
