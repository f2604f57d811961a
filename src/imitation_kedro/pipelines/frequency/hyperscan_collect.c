/* Collects every match of one hs_scan into a growing array, in C.
 *
 * Built by hyperscan_backends.py with the system C compiler; hs_scan is passed in as a function
 * pointer (from the system libhs, loaded with ctypes), so this file needs no Hyperscan headers.
 * Each match is packed as (end offset << 32) | pattern id, the layout scanner.py unpacks.
 */
#include <stdint.h>
#include <stdlib.h>

typedef int (*hsc_on_match)(unsigned int id, unsigned long long from, unsigned long long to,
                            unsigned int flags, void *context);
typedef int (*hsc_scan_fn)(const void *db, const char *data, unsigned int length,
                           unsigned int flags, void *scratch, hsc_on_match on_event,
                           void *context);

typedef struct {
    uint64_t *buf;
    uint64_t n;
    uint64_t cap;
    int out_of_memory;
} hsc_sink;

static int hsc_append(unsigned int id, unsigned long long from, unsigned long long to,
                      unsigned int flags, void *context) {
    hsc_sink *sink = (hsc_sink *)context;
    (void)from;
    (void)flags;
    if (sink->n == sink->cap) {
        uint64_t cap = sink->cap ? 2 * sink->cap : 65536;
        uint64_t *buf = (uint64_t *)realloc(sink->buf, cap * sizeof(uint64_t));
        if (buf == NULL) {
            sink->out_of_memory = 1;
            return 1; /* stops the scan */
        }
        sink->buf = buf;
        sink->cap = cap;
    }
    sink->buf[sink->n++] = ((uint64_t)to << 32) | id;
    return 0;
}

/* Scans data; *out (free with hsc_free) holds *n packed matches. Returns hs_scan's code, or -100
 * when the match array could not grow. */
int hsc_scan_collect(hsc_scan_fn scan, const void *db, const char *data, unsigned int length,
                     void *scratch, uint64_t **out, uint64_t *n) {
    hsc_sink sink = {NULL, 0, 0, 0};
    int rc = scan(db, data, length, 0, scratch, hsc_append, &sink);
    *out = sink.buf;
    *n = sink.n;
    return sink.out_of_memory ? -100 : rc;
}

void hsc_free(void *p) { free(p); }
