#include "message_status.hpp"

#include <gtest/gtest.h>

namespace {

using chat::Channel;
using chat::MessageStatus;
using chat::Transition;

TEST(MessageStatus, NamesRoundTrip) {
  for (auto s : {MessageStatus::kSent, MessageStatus::kPending,
                 MessageStatus::kDelivered, MessageStatus::kRead}) {
    EXPECT_EQ(chat::parse_status(chat::to_string(s)), s);
  }
  EXPECT_FALSE(chat::parse_status("LOST"));
}

struct Case {
  Channel channel;
  MessageStatus from;
  MessageStatus to;
  Transition expected;
};

TEST(MessageStatus, TransitionTable) {
  const Case cases[] = {
      // Platform messages move forward through the lifecycle...
      {Channel::kWhatsApp, MessageStatus::kSent, MessageStatus::kPending,
       Transition::kApply},
      {Channel::kWhatsApp, MessageStatus::kPending, MessageStatus::kDelivered,
       Transition::kApply},
      {Channel::kInstagram, MessageStatus::kSent, MessageStatus::kDelivered,
       Transition::kApply},
      {Channel::kWhatsApp, MessageStatus::kDelivered, MessageStatus::kRead,
       Transition::kApply},
      // ...are read only after delivery...
      {Channel::kWhatsApp, MessageStatus::kSent, MessageStatus::kRead,
       Transition::kInvalid},
      {Channel::kInstagram, MessageStatus::kPending, MessageStatus::kRead,
       Transition::kInvalid},
      // ...and never move backwards: replays and late events are no-ops.
      {Channel::kWhatsApp, MessageStatus::kDelivered, MessageStatus::kPending,
       Transition::kNoop},
      {Channel::kWhatsApp, MessageStatus::kRead, MessageStatus::kDelivered,
       Transition::kNoop},
      {Channel::kWhatsApp, MessageStatus::kPending, MessageStatus::kPending,
       Transition::kNoop},
      {Channel::kLocal, MessageStatus::kRead, MessageStatus::kRead,
       Transition::kNoop},
      // Local recipients may read straight from SENT.
      {Channel::kLocal, MessageStatus::kSent, MessageStatus::kRead,
       Transition::kApply},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(chat::check_transition(c.channel, c.from, c.to), c.expected)
        << chat::to_string(c.from) << " -> " << chat::to_string(c.to);
  }
}

}  // namespace
