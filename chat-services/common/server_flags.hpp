#pragma once
// The HTTP server's defences as flags, the same for every chat binary that
// serves HTTP: connection caps, header and body deadlines, the handler and
// drain deadlines (see HttpServerOptions for why each exists).

#include "flags.hpp"
#include "http_server.hpp"

namespace chat {

/// Declares the server-limit flags; `prefix` names their environment
/// variables (e.g. "CHAT_API" gives CHAT_API_MAX_CONNECTIONS).
void add_server_limit_flags(Flags& flags, const std::string& prefix);

/// Applies the flags declared by add_server_limit_flags to `options`.
void apply_server_limit_flags(const Flags& flags, HttpServerOptions& options);

}  // namespace chat
