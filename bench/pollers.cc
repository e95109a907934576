// N concurrent status pollers against one URL until a stop file appears, on one libcurl multi
// handle (so the pollers themselves cost little CPU next to the server they measure). Each polls
// as Bulk Data clients do: GET, and after a 202 wait what Retry-After says (at most 1 s) before
// the next GET; a 200 ends its polling. Prints requests/s and latency percentiles (ms) as JSON.
//   pollers URL N STOP_FILE
#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Poller {
  CURL* easy = nullptr;
  Clock::time_point due;
  bool busy = false;
  double retry_after = 0;
};

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

size_t Header(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  if (line.size() > 12 && strncasecmp(line.c_str(), "retry-after:", 12) == 0) {
    static_cast<Poller*>(user)->retry_after = std::atof(line.c_str() + 12);
  }
  return size * n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: pollers URL N STOP_FILE\n");
    return 2;
  }
  const std::string url = argv[1];
  const int n = std::atoi(argv[2]);
  const std::filesystem::path stop_file = argv[3];
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  std::vector<Poller> pollers(static_cast<size_t>(n));
  const auto started = Clock::now();
  for (auto& p : pollers) {
    p.easy = curl_easy_init();
    curl_easy_setopt(p.easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(p.easy, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(p.easy, CURLOPT_HEADERFUNCTION, Header);
    curl_easy_setopt(p.easy, CURLOPT_HEADERDATA, &p);
    curl_easy_setopt(p.easy, CURLOPT_PRIVATE, &p);
    curl_easy_setopt(p.easy, CURLOPT_TIMEOUT, 30L);
    p.due = started;
  }
  std::vector<double> latencies;
  long errors = 0;
  auto next_stop_check = started;
  bool stopping = false;
  while (true) {
    const auto now = Clock::now();
    if (now >= next_stop_check) {
      stopping = std::filesystem::exists(stop_file);
      next_stop_check = now + std::chrono::milliseconds(50);
    }
    int active = 0;
    for (auto& p : pollers) {
      if (!p.busy && !stopping && now >= p.due) {
        p.retry_after = 0;
        p.busy = true;
        curl_multi_add_handle(multi, p.easy);
      }
      active += p.busy;
    }
    if (stopping && active == 0) break;
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Poller* p = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      curl_off_t micros = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME_T, &micros);
      curl_multi_remove_handle(multi, msg->easy_handle);
      p->busy = false;
      if (msg->data.result != CURLE_OK || (status != 200 && status != 202)) {
        ++errors;
        p->due = Clock::now() + std::chrono::milliseconds(10);
        continue;
      }
      latencies.push_back(static_cast<double>(micros) / 1000.0);
      if (status == 200) {  // the job is done: this client stops, as real ones do
        p->due = Clock::time_point::max();
        continue;
      }
      const double wait = std::min(1.0, p->retry_after);
      p->due = Clock::now() + std::chrono::microseconds(static_cast<long>(wait * 1e6));
    }
    curl_multi_poll(multi, nullptr, 0, 5, nullptr);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double q) {
    if (latencies.empty()) return 0.0;
    return latencies[std::min(latencies.size() - 1, static_cast<size_t>(q * static_cast<double>(latencies.size())))];
  };
  std::printf("{\"requests\":%zu,\"errors\":%ld,\"seconds\":%.3f,\"rps\":%.1f,\"p50\":%.2f,\"p99\":%.2f}\n",
              latencies.size(), errors, seconds, static_cast<double>(latencies.size()) / seconds, pct(0.5), pct(0.99));
  for (auto& p : pollers) curl_easy_cleanup(p.easy);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return 0;
}
