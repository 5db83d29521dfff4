#pragma once
// The HTTP server the chat services share is vigil's hardened core
// (vigil::http::Server: limits, deadlines, caps, drain; see ServerOptions
// for why each exists), so the services and vigil's own endpoint have one
// set of defences. This header gives it the chat names and adds what only
// chat needs: byte ranges, JSON answers, the client's address.

#include <cstdint>
#include <string>
#include <string_view>
#include <vigil/http/problem.hpp>
#include <vigil/http/server_handler.hpp>
#include <vigil/http/server_options.hpp>

#include "blob_store.hpp"

// Declared only: the server's code is compiled where a server is made
// (service.cpp and the tests, which include <vigil/http/server.hpp>).
VIGIL_NAMESPACE_BEGIN
namespace http {
class Server;
}  // namespace http
VIGIL_NAMESPACE_END

namespace chat {

using HttpServer = vigil::http::Server;
using HttpServerOptions = vigil::http::ServerOptions;
using DrainReport = vigil::http::DrainReport;
using ResponseBody = vigil::http::ResponseBody;
using Request = vigil::http::ServerRequest;
using RequestHeader = vigil::http::RequestHeader;
using Response = vigil::http::ServerResponse;
using Respond = vigil::http::Respond;
using RequestHandler = vigil::http::RequestHandler;
using BodySink = vigil::http::BodySink;
using StreamDecision = vigil::http::StreamDecision;
using StreamRoute = vigil::http::StreamRoute;
using vigil::http::drop_connection;
using vigil::http::kPeerAddressField;

/// A byte range [first, last] of a resource, both inclusive.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};
enum class RangeCheck { kNone, kSatisfiable, kUnsatisfiable };
/// Interprets a Range header for a resource of `size` bytes (RFC 9110
/// §14): one `bytes=a-b`, `bytes=a-` or `bytes=-n` range is served
/// (kSatisfiable, clamped to the resource); an empty header, another unit,
/// several ranges or a malformed value are ignored (kNone: send everything); a
/// range starting past the end is kUnsatisfiable (416).
RangeCheck parse_range(std::string_view header, std::uint64_t size,
                       ByteRange& range);

/// The client's address as the server saw it, or "unknown" for a request
/// that did not come through an HttpServer.
std::string peer_address(const RequestHeader& header);

/// An RFC 9457 problem+json response (vigil's, as the server's own).
using vigil::http::problem;

/// A JSON response with the given status.
Response json_response(unsigned status, std::string body);

}  // namespace chat
