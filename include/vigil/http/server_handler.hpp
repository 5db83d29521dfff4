#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>

#include "vigil/http/response_body.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// A request as a Server hands it to its handler.
using ServerRequest =
    boost::beast::http::request<boost::beast::http::string_body>;
/// A request's header, as a StreamRoute sees it.
using RequestHeader = boost::beast::http::request_header<>;
/// Sends the response; call it exactly once, from any thread.
using Respond = std::function<void(ServerResponse)>;
/// Handles a request; answers through the Respond, now or later.
using RequestHandler = std::function<void(ServerRequest&&, Respond)>;

/// Not a response: passed to Respond, it resets the connection instead (for
/// simulating an unreachable peer in tests and simulators).
inline ServerResponse drop_connection() {
  ServerResponse res;
  res.result(0);
  return res;
}

/// The request field in which a Server hands its handler the client's
/// address (taken from the socket; a client's own value is overwritten).
inline constexpr const char* kPeerAddressField = "Vigil-Peer-Address";

/// Receives one request's body as it arrives, instead of memory (see
/// ServerOptions::stream_route): uploads of any size in constant memory.
///
/// Thread-safety: the server calls it on the connection's strand, one call
/// at a time.
///
///     class Upload : public vigil::http::BodySink {
///       std::optional<vigil::http::ServerResponse> write(
///           std::string_view bytes) override;  // append to a file
///       void finish(vigil::http::Respond respond) override;  // 201
///     };
class BodySink {
 public:
  /// Destroyed without finish() (body over the limit, malformed, connection
  /// lost, server stopping): undo what the partial body did.
  virtual ~BodySink() = default;
  /// The next bytes of the body. A response stops reading: it is sent and
  /// the connection closed (e.g. 400 for a malformed body).
  virtual std::optional<ServerResponse> write(std::string_view bytes) = 0;
  /// The whole body arrived; answer through `respond` (now or later).
  virtual void finish(Respond respond) = 0;
  /// The body did not complete: the server answered `status` itself (413
  /// over the limit, 400 malformed) or the client went (408 timed out, 499
  /// closed). The sink is destroyed next.
  virtual void rejected(unsigned status) { (void)status; }
};

/// What a StreamRoute decides from a request's header: no value (the body
/// is read into memory as usual), a response to send without reading the
/// body (e.g. 401), or the sink that takes it.
using StreamDecision =
    std::variant<std::monostate, ServerResponse, std::unique_ptr<BodySink>>;
/// Decides for each request whether its body streams (ServerOptions).
using StreamRoute = std::function<StreamDecision(const RequestHeader&)>;

}  // namespace http
VIGIL_NAMESPACE_END
