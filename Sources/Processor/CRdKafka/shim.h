#ifndef TB_GATEWAY_CRDKAFKA_SHIM_H
#define TB_GATEWAY_CRDKAFKA_SHIM_H
// Debian's librdkafka-dev. Swift does not import variadic C functions nor the
// RD_KAFKA_V_* macros, so the one produce call the gateway makes is written
// here as a static inline helper (facts.md, "Swift and C interop").
#include <stddef.h>
#include <sys/prctl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// Produces one record on a pre-created topic handle. The value is copied by
/// librdkafka (RD_KAFKA_MSG_F_COPY). On success the headers belong to
/// librdkafka; on failure the caller still owns (and must destroy) them.
static inline rd_kafka_resp_err_t tbk_produce(rd_kafka_t *rk,
                                              rd_kafka_topic_t *rkt,
                                              const void *key, size_t key_len,
                                              const void *value, size_t value_len,
                                              rd_kafka_headers_t *headers,
                                              void *opaque) {
    return rd_kafka_producev(rk,
                             RD_KAFKA_V_RKT(rkt),
                             RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_HEADERS(headers),
                             RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

/// Names the calling thread as the kernel shows it (`top -H`, perf): prctl
/// is variadic, so Swift cannot call it itself.
static inline void tbk_name_thread(const char *name) {
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

#endif
