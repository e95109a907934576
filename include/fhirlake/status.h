// Status and Result<T>: how every expected failure in fhirlake travels.
//
// A Status is either OK or carries a code and a message a user can act on: what failed, on
// what (file, line, URL without secrets) and what to do. Functions that produce a value on
// success return Result<T>. Neither throws; callers check ok() at the call site.
//
// Both are [[nodiscard]] and the project builds with -Werror=unused-result, so a Status that is
// dropped on the floor does not compile. Where ignoring one is genuinely right (best-effort
// cleanup on a path that already failed), the call site casts it to (void) and says why.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace fhirlake {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input is wrong (options, malformed documents)
  kNotFound,
  kIoError,          // local files
  kNetwork,          // transport failures: connect, reset, timeout
  kServer,           // the remote server answered with an error
  kDataLoss,         // truncated or inconsistent data (count mismatch, short file)
  kCancelled,
  kUnauthenticated,
  kConflict,         // another writer got there first (optimistic concurrency)
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status NetworkError(std::string m) { return {StatusCode::kNetwork, std::move(m)}; }
inline Status ServerError(std::string m) { return {StatusCode::kServer, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the Status that explains why there is none.
// REQUIRES: a Result built from a Status is built from a non-OK one.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok()
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace fhirlake

// Returns the Status of an expression from the enclosing function when it is not OK.
#define FHIRLAKE_RETURN_IF_ERROR(expr)            \
  do {                                            \
    ::fhirlake::Status fhirlake_status_ = (expr); \
    if (!fhirlake_status_.ok()) return fhirlake_status_; \
  } while (0)

// Evaluates `expr` (a Result<T>); when it is not OK returns its Status from the enclosing
// function (which returns a Status or any Result<U>), otherwise moves the value into `lhs`.
// `lhs` is a declaration (`auto manifest`, `const std::string body`) or an existing variable
// (use `auto` for a type with a top-level comma). Expands to several statements, so it cannot be
// the unbraced body of an if/else.
//   FHIRLAKE_ASSIGN_OR_RETURN(auto table, Table::Open(store, path));
#define FHIRLAKE_ASSIGN_OR_RETURN(lhs, expr) \
  FHIRLAKE_ASSIGN_OR_RETURN_IMPL_(FHIRLAKE_STATUS_CONCAT_(fhirlake_result_, __COUNTER__), lhs, expr)

#define FHIRLAKE_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                    \
  if (!result.ok()) return result.status();                \
  lhs = std::move(result).value()

#define FHIRLAKE_STATUS_CONCAT_INNER_(a, b) a##b
#define FHIRLAKE_STATUS_CONCAT_(a, b) FHIRLAKE_STATUS_CONCAT_INNER_(a, b)
