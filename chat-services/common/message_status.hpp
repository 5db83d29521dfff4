#pragma once
// The message lifecycle, shared by the API and the router so both apply the
// same rules: SENT -> PENDING <-> retry -> DELIVERED -> READ.

#include <optional>
#include <string_view>

#include "validation.hpp"

namespace chat {

/// Declared in lifecycle order: a status never moves to an earlier one.
enum class MessageStatus { kSent, kPending, kDelivered, kRead };

std::string_view to_string(MessageStatus status);
std::optional<MessageStatus> parse_status(std::string_view text);

enum class Transition {
  kApply,    // move to the new status
  kNoop,     // already there or later: a replay or a late event
  kInvalid,  // not allowed from here (the API answers 409)
};

/// Local recipients may read a message straight from SENT; platform
/// recipients only once the platform confirmed delivery.
Transition check_transition(Channel channel, MessageStatus from,
                            MessageStatus to);

}  // namespace chat
