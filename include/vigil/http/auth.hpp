#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "vigil/http/detail/negotiation.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

namespace detail {

inline std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    const bool two = i + 1 < in.size();
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       (two ? static_cast<unsigned char>(in[i + 1]) << 8 : 0U);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

/// Compares in time that depends only on the lengths, so a client cannot
/// find a secret byte by byte from response times.
inline bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace detail

/// Opt-in credentials for the endpoint's /metrics: a bearer token and/or
/// HTTP basic credentials, the two schemes Prometheus' scrape config
/// supports (`authorization` and `basic_auth`). Empty (the default) means
/// open. Health probes stay open unless protect_health is set, because
/// kubelets probe without credentials.
///
/// Thread-safety: immutable once built; allows() may run concurrently.
///
///     vigil::http::EndpointOptions options;
///     options.handler.auth = vigil::http::Auth::bearer(read_secret());
struct Auth {
  /// The token a request must present as `Authorization: Bearer <token>`;
  /// empty disables the bearer scheme.
  std::string bearer_token;
  /// The user of HTTP basic credentials; empty disables the basic scheme
  /// (basic_password alone enables nothing).
  std::string basic_user;
  /// The password going with basic_user.
  std::string basic_password;
  /// Also require the credentials on the health probes. Off by default:
  /// kubelets probe without credentials.
  bool protect_health = false;

  /// Credentials accepting `Authorization: Bearer <token>`.
  static Auth bearer(std::string token) {
    Auth auth;
    auth.bearer_token = std::move(token);
    return auth;
  }
  /// Credentials accepting HTTP basic authentication as `user`:`password`.
  /// An empty `user` leaves the endpoint open.
  static Auth basic(std::string user, std::string password) {
    Auth auth;
    auth.basic_user = std::move(user);
    auth.basic_password = std::move(password);
    return auth;
  }

  /// Whether any scheme is configured; when not, allows() grants every
  /// request.
  bool enabled() const { return !bearer_token.empty() || !basic_user.empty(); }

  /// Whether an `Authorization` header value grants access. With both
  /// schemes configured either one does.
  bool allows(std::string_view authorization) const {
    if (!enabled()) {
      return true;
    }
    const std::size_t space = authorization.find(' ');
    if (space == std::string_view::npos) {
      return false;
    }
    const std::string_view scheme = authorization.substr(0, space);
    const std::string_view credentials =
        detail::trim(authorization.substr(space + 1));
    if (!bearer_token.empty() && detail::iequals(scheme, "Bearer") &&
        detail::constant_time_equals(credentials, bearer_token)) {
      return true;
    }
    return !basic_user.empty() && detail::iequals(scheme, "Basic") &&
           detail::constant_time_equals(
               credentials, detail::base64(basic_user + ":" + basic_password));
  }

  /// The WWW-Authenticate value a 401 carries.
  std::string challenge() const {
    return bearer_token.empty() ? "Basic realm=\"vigil\", charset=\"UTF-8\""
                                : "Bearer realm=\"vigil\"";
  }
};

}  // namespace http
VIGIL_NAMESPACE_END
