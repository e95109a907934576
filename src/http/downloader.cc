#include "fhirlake/http/downloader.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <thread>
#include <utility>

#include <simdjson.h>

#include "fhirlake/http/ndjson_lines.h"
#include "fhirlake/http/url.h"
#include "src/http/curl_handles.h"

namespace fhirlake::http {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

fs::path PartialPath(const fs::path& destination) {
  fs::path p = destination;
  p += ".part";
  return p;
}

namespace {

constexpr size_t kMaxErrorBody = 64u << 10;
constexpr uint64_t kMaxTailCheck = 64u << 20;
// Written bytes are handed to the kernel for writeback in steps of this size, so that the
// fdatasync before a file's rename has little left to do and does not stall other transfers.
constexpr uint64_t kWritebackStep = 8u << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;

// True when the bytes from `offset` to the end of `path` form one JSON value: a last line
// without its newline that is nevertheless whole.
bool TailIsCompleteJson(const fs::path& path, uint64_t offset, uint64_t size) {
  if (size <= offset) return true;
  if (size - offset > kMaxTailCheck) return false;
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f || std::fseek(f.get(), static_cast<long>(offset), SEEK_SET) != 0) return false;
  simdjson::padded_string tail(static_cast<size_t>(size - offset));
  if (std::fread(tail.data(), 1, tail.size(), f.get()) != tail.size()) return false;
  simdjson::dom::parser parser;
  return !parser.parse(tail).error();
}

std::optional<uint64_t> ParseContentRangeTotal(const std::string& value) {
  auto slash = value.rfind('/');
  if (slash == std::string::npos) return std::nullopt;
  try {
    return std::stoull(value.substr(slash + 1));
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<uint64_t> ParseContentRangeStart(const std::string& value) {
  // "bytes 100-199/200"
  auto space = value.find(' ');
  auto dash = value.find('-');
  if (space == std::string::npos || dash == std::string::npos || dash < space) return std::nullopt;
  try {
    return std::stoull(value.substr(space + 1, dash - space - 1));
  } catch (...) {
    return std::nullopt;
  }
}

struct Transfer {
  size_t index = 0;
  EasyPtr easy;
  FilePtr file;
  CurlSlist headers_out;
  Headers headers_in;
  uint64_t resume_from = 0;
  NdjsonLineCounter lines;
  bool body_checked = false;   // status examined at the first body byte
  bool to_file = false;        // body goes to the file (2xx), else to error_body
  bool write_failed = false;
  bool range_mismatch = false;
  std::string error_body;
  RedirectFence fence;          // with ClientOptions::same_origin_redirects
  uint64_t writeback_from = 0;  // file offset up to which writeback has been started
  DownloadObserver* observer = nullptr;
  fs::path part;
};

struct TaskState {
  int attempts = 0;
  bool refreshed_token = false;  // a 401 has forced a new token (once per file)
  bool refresh_token_now = false;  // the next attempt asks for that new token
  bool confirmed_end = false;  // the server said there is nothing past the partial file
  DownloadResult result;
};

// Whether a response carries a content coding other than identity.
bool Encoded(const Headers& headers) {
  auto coding = headers.Get("Content-Encoding");
  if (!coding) return false;
  std::string v;
  for (char c : *coding) {
    if (c != ' ' && c != '\t') v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return !v.empty() && v != "identity";
}

size_t WriteToTransfer(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  if (!t->body_checked) {
    t->body_checked = true;
    long status = 0;
    curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 || status == 206) {
      t->to_file = true;
      if (status == 200 && t->resume_from > 0) {
        // The server ignored Range: start the file over.
        if (ftruncate(fileno(t->file.get()), 0) != 0) {
          t->write_failed = true;
          return 0;
        }
        std::rewind(t->file.get());
        t->resume_from = 0;
        t->writeback_from = 0;
        t->lines = NdjsonLineCounter();
      } else if (status == 206) {
        auto range = t->headers_in.Get("Content-Range");
        auto start = range ? ParseContentRangeStart(*range) : std::nullopt;
        // Bytes of an encoded representation (a store keeping the file gzip-encoded ignores
        // the identity asked for) do not continue the decoded bytes on disk.
        if (!start || *start != t->resume_from || Encoded(t->headers_in)) {
          t->range_mismatch = true;
          return 0;
        }
      }
    }
  }
  if (!t->to_file) {
    size_t room = kMaxErrorBody - std::min(kMaxErrorBody, t->error_body.size());
    t->error_body.append(data, std::min(room, bytes));
    return bytes;
  }
  if (std::fwrite(data, 1, bytes, t->file.get()) != bytes) {
    t->write_failed = true;
    return 0;
  }
  t->lines.Feed(data, bytes);
  if (t->lines.size() - t->writeback_from >= kWritebackStep) {
    // Start (not wait for) writeback of what is written so far.
    if (std::fflush(t->file.get()) == 0) {
      ::sync_file_range(fileno(t->file.get()), static_cast<off_t>(t->writeback_from),
                        static_cast<off_t>(t->lines.size() - t->writeback_from), SYNC_FILE_RANGE_WRITE);
      t->writeback_from = t->lines.size();
    }
  }
  if (t->observer) t->observer->OnBytes(bytes);
  return bytes;
}

Status SyncAndClose(FilePtr& file, const fs::path& path) {
  if (!file) return Status::Ok();
  bool ok = std::fflush(file.get()) == 0 && fdatasync(fileno(file.get())) == 0;
  std::FILE* raw = file.release();
  ok = (std::fclose(raw) == 0) && ok;
  if (!ok) return IoError("cannot write " + path.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

// One Downloader::Run: each task's state, the transfers in flight on one curl multi handle,
// the tasks ready to start and the retries waiting for their time. A task ends once, through
// Finish; until then it is in exactly one of ready_, waiting_ and active_.
class DownloadRun {
 public:
  DownloadRun(const DownloadOptions& options, const std::vector<DownloadTask>& tasks, DownloadObserver* observer)
      : options_(options), copt_(options.client), tasks_(tasks), observer_(observer), state_(tasks.size()),
        multi_(curl_multi_init(), curl_multi_cleanup) {
    for (size_t i = 0; i < tasks.size(); ++i) ready_.push_back(i);
  }

  std::vector<DownloadResult> Run() {
    auto last_tick = Clock::now();
    while (!ready_.empty() || !waiting_.empty() || !active_.empty()) {
      if (options_.stop && options_.stop->load()) {
        CancelAll();
        break;
      }
      StartDue();
      if (active_.empty()) {
        if (ready_.empty() && !waiting_.empty()) {
          std::this_thread::sleep_until(std::min(waiting_.begin()->first, Clock::now() + Millis(200)));
          if (observer_) observer_->OnTick();
        }
        continue;
      }
      Advance();
      if (observer_ && Clock::now() - last_tick >= Millis(100)) {
        last_tick = Clock::now();
        observer_->OnTick();
      }
    }
    std::vector<DownloadResult> results;
    results.reserve(state_.size());
    for (auto& s : state_) results.push_back(std::move(s.result));
    return results;
  }

 private:
  void Finish(size_t i, Status status) {
    state_[i].result.status = std::move(status);
    state_[i].result.attempts = state_[i].attempts;
    if (observer_) observer_->OnFinished(i, tasks_[i], state_[i].result);
  }

  // Another attempt after the retry policy's delay (or `retry_after`, the server's), or, when
  // the policy allows no more, the end of the task with `final_status`.
  void ScheduleRetry(size_t i, const std::string& reason, std::optional<Millis> retry_after, Status final_status) {
    if (!copt_.retry.CanRetry(state_[i].attempts)) {
      Finish(i, final_status.WithContext("gave up after " + std::to_string(state_[i].attempts) + " attempts"));
      return;
    }
    Millis delay = copt_.retry.DelayBefore(state_[i].attempts + 1, retry_after);
    if (observer_) observer_->OnRetry(i, tasks_[i], reason, delay);
    waiting_.emplace(Clock::now() + delay, i);
  }

  void CancelAll() {
    for (auto& [easy, transfer] : active_) {
      curl_multi_remove_handle(multi_.get(), easy);
      Finish(transfer->index, Cancelled("cancelled"));
    }
    active_.clear();
    for (size_t i : ready_) Finish(i, Cancelled("cancelled"));
    for (const auto& [when, i] : waiting_) Finish(i, Cancelled("cancelled"));
  }

  // Retries whose time has come join the ready tasks; ready tasks start while fewer than
  // `parallel` transfers are in flight.
  void StartDue() {
    const auto now = Clock::now();
    while (!waiting_.empty() && waiting_.begin()->first <= now) {
      ready_.push_back(waiting_.begin()->second);
      waiting_.erase(waiting_.begin());
    }
    const size_t parallel = static_cast<size_t>(std::max(1, options_.parallel));
    while (active_.size() < parallel && !ready_.empty()) {
      const size_t i = ready_.front();
      ready_.pop_front();
      Start(i);
    }
  }

  // Moves the transfers in flight along and handles those that ended.
  void Advance() {
    int running = 0;
    curl_multi_perform(multi_.get(), &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
      if (msg->msg == CURLMSG_DONE) OnDone(msg->easy_handle, msg->data.result);
    }
    if (!active_.empty()) curl_multi_poll(multi_.get(), nullptr, 0, 100, nullptr);
  }

  // A request for task `i`, resuming its partial file if there is one; a destination already
  // in place is counted and skipped.
  void Start(size_t i) {
    const DownloadTask& task = tasks_[i];
    std::error_code ec;
    if (fs::exists(task.destination, ec)) {
      NdjsonLineCounter counter;
      Status s = CountNdjsonFile(task.destination, counter);
      state_[i].result.skipped = true;
      state_[i].result.bytes = counter.size();
      state_[i].result.lines = counter.Records();
      return Finish(i, s);
    }
    fs::create_directories(task.destination.parent_path(), ec);
    auto t = std::make_unique<Transfer>();
    t->index = i;
    t->observer = observer_;
    t->part = PartialPath(task.destination);
    if (fs::exists(t->part, ec)) {
      Status s = CountNdjsonFile(t->part, t->lines);
      if (!s.ok()) return Finish(i, s);
      t->resume_from = t->lines.size();
      t->writeback_from = t->resume_from;
    }
    t->file.reset(std::fopen(t->part.c_str(), "ab"));
    if (!t->file) {
      return Finish(i, IoError("cannot open " + t->part.string() + " for writing: " + std::strerror(errno)));
    }
    std::setvbuf(t->file.get(), nullptr, _IOFBF, 1u << 20);

    std::optional<std::string> token;
    if (task.send_token && copt_.tokens && MayReceiveToken(task.url, copt_.token_origin)) {
      auto tok = copt_.tokens->Token(std::exchange(state_[i].refresh_token_now, false));
      if (!tok.ok()) return Finish(i, tok.status());
      token = std::move(tok.value());
    }
    Configure(*t, task, token);
    ++state_[i].attempts;
    if (observer_) observer_->OnRequest(i, task, t->resume_from);
    CURL* e = t->easy.get();
    curl_multi_add_handle(multi_.get(), e);
    active_.emplace(e, std::move(t));
  }

  // The transfer's curl handle: the URL, headers (the token only when given), redirects, stall
  // detection, and a Range request when it resumes a partial file.
  void Configure(Transfer& t, const DownloadTask& task, const std::optional<std::string>& token) {
    t.easy.reset(curl_easy_init());
    CURL* e = t.easy.get();
    ApplyCommonOptions(e, copt_.connect_timeout, copt_.user_agent, copt_.verify_tls, copt_.ca_file);
    t.headers_out.Append("Accept: application/fhir+ndjson");
    if (token) t.headers_out.Append("Authorization: Bearer " + *token);
    // Range offsets count the bytes of the representation; what is on disk is decoded, so a
    // resume asks for identity (without the header any coding would be acceptable).
    if (t.resume_from > 0) t.headers_out.Append("Accept-Encoding: identity");
    curl_easy_setopt(e, CURLOPT_URL, task.url.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers_out.get());
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    if (copt_.same_origin_redirects) InstallRedirectFence(e, task.url, t.fence);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, static_cast<long>(options_.buffer_bytes));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, options_.stall_bytes_per_second);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::max<long long>(1, options_.stall_time.count() / 1000)));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, WriteToTransfer);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, CollectHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t.headers_in);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    if (t.resume_from > 0) {
      curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(t.resume_from));
    } else if (options_.accept_gzip) {
      curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    }
  }

  // A transfer ended (`rc` is curl's verdict): its file is closed, then the response decides
  // whether the task is complete, is retried, or has failed.
  void OnDone(CURL* e, CURLcode rc) {
    auto it = active_.find(e);
    std::unique_ptr<Transfer> t = std::move(it->second);
    active_.erase(it);
    curl_multi_remove_handle(multi_.get(), e);
    const size_t i = t->index;
    const DownloadTask& task = tasks_[i];
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    state_[i].result.http_status = status;
    if (copt_.on_response) copt_.on_response("GET", RedactUrl(task.url), status);
    Status closed = SyncAndClose(t->file, t->part);
    if (!closed.ok() || t->write_failed) {
      return Finish(i, closed.ok() ? IoError("cannot write " + t->part.string()) : closed);
    }
    if (t->range_mismatch) {
      fs::remove(t->part);
      return ScheduleRetry(i, "server answered a different range; starting the file over", std::nullopt,
                           ServerError("inconsistent Content-Range from " + RedactUrl(task.url)));
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK && !t->fence.refused_url.empty()) {
      return Finish(i, RedirectRefused(task.url, t->fence));
    }
    if (rc != CURLE_OK) {
      std::string why = curl_easy_strerror(rc);
      return ScheduleRetry(i, why, std::nullopt, NetworkError(RedactUrl(task.url) + ": " + why));
    }
    if (status == 416 && t->resume_from > 0) return OnRangeNotSatisfiable(i, *t);
    if (status == 200 || status == 206) {
      if (!t->body_checked && status == 200 && t->resume_from > 0) {
        // An empty body (nothing reached the write callback) where the whole file was asked for.
        fs::resize_file(t->part, 0);
        t->lines = NdjsonLineCounter();
      }
      return Complete(i, *t);
    }
    OnErrorStatus(i, *t, status);
  }

  // 416 to a resume: the partial file is complete when the server's total is its size, and is
  // started over otherwise.
  void OnRangeNotSatisfiable(size_t i, Transfer& t) {
    auto range = t.headers_in.Get("Content-Range");
    auto total = range ? ParseContentRangeTotal(*range) : std::nullopt;
    if (total && *total == t.resume_from && !Encoded(t.headers_in)) {
      state_[i].confirmed_end = true;
      return Complete(i, t);
    }
    fs::remove(t.part);
    ScheduleRetry(i, "partial file does not match the server's copy; starting over", std::nullopt,
                  ServerError("416 from " + RedactUrl(tasks_[i].url)));
  }

  // Any other status: a 401 refreshes the token once, retryable ones (429, 5xx) are retried
  // (after Retry-After when the server says), the rest fail the task.
  void OnErrorStatus(size_t i, Transfer& t, long status) {
    const DownloadTask& task = tasks_[i];
    state_[i].result.error_body = t.error_body;
    if (status == 401 && task.send_token && copt_.tokens && !state_[i].refreshed_token) {
      state_[i].refreshed_token = state_[i].refresh_token_now = true;
      return ScheduleRetry(i, "HTTP 401; refreshing the access token", Millis(0),
                           Status(StatusCode::kUnauthenticated, "401 from " + RedactUrl(task.url)));
    }
    if (IsRetryableStatus(status)) {
      std::optional<Millis> retry_after;
      if (auto h = t.headers_in.Get("Retry-After")) retry_after = ParseRetryAfter(*h);
      return ScheduleRetry(i, "HTTP " + std::to_string(status), retry_after,
                           ServerError("HTTP " + std::to_string(status) + " from " + RedactUrl(task.url)));
    }
    StatusCode code = status == 401 || status == 403 ? StatusCode::kUnauthenticated : StatusCode::kServer;
    Finish(i, Status(code, "HTTP " + std::to_string(status) + " from " + RedactUrl(task.url)));
  }

  // A body that arrived in full: checked (whole last line, the manifest's count) and renamed
  // into place.
  void Complete(size_t i, Transfer& t) {
    const DownloadTask& task = tasks_[i];
    DownloadResult& r = state_[i].result;
    r.bytes = t.lines.size();
    r.lines = t.lines.Records();
    if (t.lines.EndsMidLine() && !state_[i].confirmed_end &&
        !TailIsCompleteJson(t.part, t.lines.last_line_start(), t.lines.size())) {
      return ScheduleRetry(i, "body ends inside an NDJSON line (truncated)", std::nullopt,
                           DataLoss(RedactUrl(task.url) + " ends inside a line after " + std::to_string(t.lines.size()) +
                                    " bytes"));
    }
    if (task.expected_lines && *task.expected_lines != r.lines) {
      return Finish(i, DataLoss("count mismatch for " + RedactUrl(task.url) + ": the manifest says " +
                                std::to_string(*task.expected_lines) + " resources, the file has " +
                                std::to_string(r.lines) + "; the partial file is kept at " + t.part.string() +
                                " for inspection"));
    }
    std::error_code ec;
    fs::rename(t.part, task.destination, ec);
    if (ec) {
      return Finish(i, IoError("cannot rename " + t.part.string() + " to " + task.destination.string() + ": " +
                               ec.message()));
    }
    Finish(i, Status::Ok());
  }

  const DownloadOptions& options_;
  const ClientOptions& copt_;
  const std::vector<DownloadTask>& tasks_;
  DownloadObserver* observer_;
  std::vector<TaskState> state_;
  std::deque<size_t> ready_;
  std::multimap<Clock::time_point, size_t> waiting_;  // retries not yet due
  std::map<CURL*, std::unique_ptr<Transfer>> active_;
  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi_;
};

}  // namespace

Downloader::Downloader(DownloadOptions options) : options_(std::move(options)) { InitCurlOnce(); }

std::vector<DownloadResult> Downloader::Run(const std::vector<DownloadTask>& tasks, DownloadObserver* observer) {
  return DownloadRun(options_, tasks, observer).Run();
}

}  // namespace fhirlake::http
