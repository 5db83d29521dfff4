#include "message_status.hpp"

namespace chat {

std::string_view to_string(MessageStatus status) {
  switch (status) {
    case MessageStatus::kSent:
      return "SENT";
    case MessageStatus::kPending:
      return "PENDING";
    case MessageStatus::kDelivered:
      return "DELIVERED";
    case MessageStatus::kRead:
      return "READ";
  }
  return "SENT";
}

std::optional<MessageStatus> parse_status(std::string_view text) {
  for (auto status : {MessageStatus::kSent, MessageStatus::kPending,
                      MessageStatus::kDelivered, MessageStatus::kRead}) {
    if (to_string(status) == text) return status;
  }
  return std::nullopt;
}

Transition check_transition(Channel channel, MessageStatus from,
                            MessageStatus to) {
  if (to <= from) return Transition::kNoop;
  if (to == MessageStatus::kRead && channel != Channel::kLocal &&
      from != MessageStatus::kDelivered) {
    return Transition::kInvalid;
  }
  return Transition::kApply;
}

}  // namespace chat
