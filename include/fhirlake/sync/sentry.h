// Error reports to Sentry (its "store" endpoint, protocol version 7) when SENTRY_DSN is set:
// one event per failed sync with the error, the step that failed, the release (SENTRY_RELEASE)
// and the source's origin. Events never carry credentials: the DSN's public key goes only in
// the X-Sentry-Auth header to the DSN's own host, and URLs are redacted.
#pragma once

#include <string>

#include "fhirlake/http/client.h"
#include "fhirlake/status.h"

namespace fhirlake::sync {

struct SentryEvent {
  std::string message;   // the error
  std::string step;      // "config", "source", "load"
  std::string source;    // the sync's source URL (redacted before sending)
  std::string release;   // SENTRY_RELEASE
};

// The event's JSON body (exposed for tests of its content).
std::string SentryEventJson(const SentryEvent& event);

// Sends `event` to the project named by `dsn` ("https://KEY@HOST/PROJECT"). One try, short
// timeout: error reporting must not hold up or fail the sync.
Status ReportToSentry(const std::string& dsn, const SentryEvent& event);

}  // namespace fhirlake::sync
