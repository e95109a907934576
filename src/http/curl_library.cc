// libcurl, loaded on first use. Linked as usual, libcurl and the libraries it depends on (two
// TLS stacks, Kerberos, LDAP, SASL, SSH, IDN, brotli, ...: about thirty) would be mapped and
// relocated at every start of the binary, ~10 ms, twice with the huge-page restart
// (src/cli/huge_pages.h), also for the commands that never speak HTTP: a load, merge, status
// or maintenance of a local warehouse. So the http module defines the libcurl functions it
// calls, and each finds its libcurl counterpart (dlopen of libcurl.so.4, the Debian package
// libcurl4's) at its first call. The declarations are libcurl's own, from <curl/curl.h>.
#define CURL_DISABLE_TYPECHECK  // the header's checking macros would rename the definitions below
#include <curl/curl.h>
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr const char* kLibrary = "libcurl.so.4";

// The loaded library; a process without it cannot speak HTTP at all, so it stops with a
// message that says what is missing.
void* Library() {
  static void* const handle = [] {
    void* h = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      std::fprintf(stderr, "fhirlake: cannot load %s (%s); install the libcurl4 package\n", kLibrary, ::dlerror());
      std::_Exit(70);  // EX_SOFTWARE
    }
    return h;
  }();
  return handle;
}

template <typename Function>
Function Find(const char* name) {
  void* f = ::dlsym(Library(), name);
  if (!f) {
    std::fprintf(stderr, "fhirlake: %s has no %s; install a newer libcurl4 package\n", kLibrary, name);
    std::_Exit(70);
  }
  return reinterpret_cast<Function>(f);
}

}  // namespace

// A libcurl function of fixed arguments: `params` as declared, `args` their names.
#define FHIRLAKE_CURL_FUNCTION(result, name, params, args)                   \
  extern "C" result name params {                                             \
    static const auto real = Find<result(*) params>(#name);                   \
    return real args;                                                          \
  }

FHIRLAKE_CURL_FUNCTION(CURLcode, curl_global_init, (long flags), (flags))
FHIRLAKE_CURL_FUNCTION(void, curl_global_cleanup, (void), ())
FHIRLAKE_CURL_FUNCTION(CURL*, curl_easy_init, (void), ())
FHIRLAKE_CURL_FUNCTION(void, curl_easy_cleanup, (CURL * curl), (curl))
FHIRLAKE_CURL_FUNCTION(void, curl_easy_reset, (CURL * curl), (curl))
FHIRLAKE_CURL_FUNCTION(CURLcode, curl_easy_perform, (CURL * curl), (curl))
FHIRLAKE_CURL_FUNCTION(const char*, curl_easy_strerror, (CURLcode code), (code))
FHIRLAKE_CURL_FUNCTION(CURLM*, curl_multi_init, (void), ())
FHIRLAKE_CURL_FUNCTION(CURLMcode, curl_multi_cleanup, (CURLM * multi), (multi))
FHIRLAKE_CURL_FUNCTION(CURLMcode, curl_multi_add_handle, (CURLM * multi, CURL* curl), (multi, curl))
FHIRLAKE_CURL_FUNCTION(CURLMcode, curl_multi_remove_handle, (CURLM * multi, CURL* curl), (multi, curl))
FHIRLAKE_CURL_FUNCTION(CURLMcode, curl_multi_perform, (CURLM * multi, int* running), (multi, running))
FHIRLAKE_CURL_FUNCTION(CURLMcode, curl_multi_poll,
                       (CURLM * multi, struct curl_waitfd* extra, unsigned int extra_count, int timeout_ms, int* ready),
                       (multi, extra, extra_count, timeout_ms, ready))
FHIRLAKE_CURL_FUNCTION(CURLMsg*, curl_multi_info_read, (CURLM * multi, int* left), (multi, left))
FHIRLAKE_CURL_FUNCTION(struct curl_slist*, curl_slist_append, (struct curl_slist * list, const char* line),
                       (list, line))
FHIRLAKE_CURL_FUNCTION(void, curl_slist_free_all, (struct curl_slist * list), (list))
FHIRLAKE_CURL_FUNCTION(CURLU*, curl_url, (void), ())
FHIRLAKE_CURL_FUNCTION(void, curl_url_cleanup, (CURLU * url), (url))
FHIRLAKE_CURL_FUNCTION(CURLUcode, curl_url_set, (CURLU * url, CURLUPart part, const char* content, unsigned int flags),
                       (url, part, content, flags))
FHIRLAKE_CURL_FUNCTION(CURLUcode, curl_url_get, (CURLU * url, CURLUPart part, char** content, unsigned int flags),
                       (url, part, content, flags))
FHIRLAKE_CURL_FUNCTION(void, curl_free, (void* p), (p))
FHIRLAKE_CURL_FUNCTION(time_t, curl_getdate, (const char* text, const time_t* unused), (text, unused))

#undef FHIRLAKE_CURL_FUNCTION

// The two variadic ones take one more argument, whose type the option or info number says.
// Their last named parameter is an enum, as <curl/curl.h> declares it, so the signature cannot
// change; clang warns (-Wvarargs) that va_start after a parameter of a type that promotes is
// undefined in the standard. GCC and clang's va_start is a builtin that finds the variadic
// arguments by the calling convention, whatever the named parameter's type.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wvarargs"
#endif
extern "C" CURLcode curl_easy_setopt(CURL* curl, CURLoption option, ...) {
  static const auto real = Find<CURLcode (*)(CURL*, CURLoption, ...)>("curl_easy_setopt");
  va_list ap;
  va_start(ap, option);
  CURLcode result;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    result = real(curl, option, va_arg(ap, long));
  } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
    result = real(curl, option, va_arg(ap, void*));
  } else if (option < CURLOPTTYPE_OFF_T) {
    using AnyFunction = void (*)();
    result = real(curl, option, va_arg(ap, AnyFunction));
  } else if (option < CURLOPTTYPE_BLOB) {
    result = real(curl, option, va_arg(ap, curl_off_t));
  } else {
    result = real(curl, option, va_arg(ap, void*));
  }
  va_end(ap);
  return result;
}

extern "C" CURLcode curl_easy_getinfo(CURL* curl, CURLINFO info, ...) {
  static const auto real = Find<CURLcode (*)(CURL*, CURLINFO, ...)>("curl_easy_getinfo");
  va_list ap;
  va_start(ap, info);
  void* out = va_arg(ap, void*);  // every CURLINFO_* is answered through a pointer
  va_end(ap);
  return real(curl, info, out);
}

#if defined(__clang__)
#pragma clang diagnostic pop
#endif
