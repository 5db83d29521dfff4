#pragma once

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <string>
#include <string_view>

#include "vigil/detail/json.hpp"
#include "vigil/http/response_body.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// An RFC 9457 problem+json response: what Server answers when it refuses
/// a request itself (413, 431, 408, 503 ...), and a ready error format for
/// handlers. The detail may quote a client's bytes: invalid UTF-8 becomes
/// U+FFFD, so the body is always valid JSON.
///
/// Thread-safety: a pure function.
///
///     return respond(vigil::http::problem(404, "Not Found", "no such user"));
inline ServerResponse problem(unsigned status, std::string_view title,
                              std::string_view detail) {
  std::string body = R"({"type":"about:blank","title":)";
  vigil::detail::append_json_string(body, title);
  body += R"(,"status":)";
  body += std::to_string(status);
  body += R"(,"detail":)";
  vigil::detail::append_json_string(body, detail);
  body += '}';
  ServerResponse res{static_cast<boost::beast::http::status>(status), 11};
  res.set(boost::beast::http::field::content_type, "application/problem+json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace http
VIGIL_NAMESPACE_END
