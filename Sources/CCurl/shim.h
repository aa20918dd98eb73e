#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one
// typed wrapper per argument type the bridge passes.
static inline CURLcode ccurl_setopt_long(CURL *c, CURLoption o, long v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode ccurl_setopt_string(CURL *c, CURLoption o, const char *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode ccurl_setopt_pointer(CURL *c, CURLoption o, void *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode ccurl_setopt_slist(CURL *c, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(c, o, v); }
typedef size_t (*ccurl_write_callback)(char *, size_t, size_t, void *);
static inline CURLcode ccurl_setopt_write(CURL *c, ccurl_write_callback f) { return curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, f); }
typedef int (*ccurl_progress_callback)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
static inline CURLcode ccurl_setopt_progress(CURL *c, ccurl_progress_callback f) { return curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, f); }
static inline CURLcode ccurl_getinfo_long(CURL *c, CURLINFO i, long *v) { return curl_easy_getinfo(c, i, v); }

// For the object-store client: request bodies streamed by a read callback, response
// headers seen by a header callback, and 64-bit sizes (curl_off_t) for large parts.
typedef size_t (*ccurl_read_callback)(char *, size_t, size_t, void *);
static inline CURLcode ccurl_setopt_read(CURL *c, ccurl_read_callback f) { return curl_easy_setopt(c, CURLOPT_READFUNCTION, f); }
typedef size_t (*ccurl_header_callback)(char *, size_t, size_t, void *);
static inline CURLcode ccurl_setopt_header(CURL *c, ccurl_header_callback f) { return curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, f); }
static inline CURLcode ccurl_setopt_off_t(CURL *c, CURLoption o, curl_off_t v) { return curl_easy_setopt(c, o, v); }
