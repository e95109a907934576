// Where bearer tokens come from. The http layer asks a TokenSource for a token when a request
// may carry one; the auth module implements SMART Backend Services behind this interface.
#pragma once

#include <string>

#include "fhirlake/status.h"

namespace fhirlake::http {

class TokenSource {
 public:
  virtual ~TokenSource() = default;

  // Returns a current access token. With `force_refresh`, the cached token was rejected (401)
  // and a new one must be obtained. Thread-safe.
  virtual Result<std::string> Token(bool force_refresh) = 0;
};

// A fixed token given by the user (e.g. from a file or FHIRLAKE_ACCESS_TOKEN). It cannot be
// refreshed: a forced refresh fails with a message that says so.
class StaticTokenSource : public TokenSource {
 public:
  explicit StaticTokenSource(std::string token) : token_(std::move(token)) {}
  Result<std::string> Token(bool force_refresh) override {
    if (force_refresh) {
      return Status(StatusCode::kUnauthenticated,
                    "the server rejected the access token (401) and a fixed token cannot be "
                    "refreshed: supply a new token or configure a client");
    }
    return token_;
  }

 private:
  std::string token_;
};

}  // namespace fhirlake::http
