/* sluice — the wall around lib/testing (forced first into each of its files
 * with -include by lib/meson.build; tested by tests/walls).
 *
 * lib/testing may use lib/core, jansson and libc. Poisoning an identifier
 * makes any later use of it a hard error, in system headers too: the
 * identifiers below are each forbidden library's central types and header
 * guards, and the include guards of the headers of the layers (and of
 * processors/, bench/, tests/) this layer must not see. A header added to
 * another layer needs its guard here: tests/walls tries every one. */

#ifndef SL_WALL_TESTING_H
#define SL_WALL_TESTING_H

/* libuv */
#pragma GCC poison UV_H uv_loop_t uv_loop_s

/* librdkafka */
#pragma GCC poison _RDKAFKA_H_ _RDKAFKA_MOCK_H_ rd_kafka_t rd_kafka_s

/* libh2o (the runtime's operations endpoint) */
#pragma GCC poison h2o_h h2o_context_t h2o_globalconf_t

/* libcurl */
#pragma GCC poison CURLINC_CURL_H CURL CURLM

/* OpenSSL */
#pragma GCC poison OPENSSL_E_OS2_H OPENSSL_CORE_NAMES_H EVP_MD EVP_MD_CTX OSSL_PARAM

/* SQLite */
#pragma GCC poison SQLITE3_H sqlite3

/* lib/runtime */
#pragma GCC poison SL_RUNTIME_RUNTIME_H SLUICE_PROCESSOR_H

/* lib/kafka */
#pragma GCC poison SL_KAFKA_INT_H SL_KAFKA_SOURCE_INT_H SLUICE_KAFKA_H SLUICE_BROKER_H

/* lib/kinesis */
#pragma GCC poison SL_KINESIS_CLIENT_H SL_KINESIS_HTTP_H SL_KINESIS_SIGV4_H SL_KINESIS_SIGV4_INT_H \
    SL_KINESIS_CHECKPOINT_H SL_KINESIS_SOURCE_INT_H SLUICE_KINESIS_H

/* lib/store */
#pragma GCC poison SL_STORE_SQLITE_UTIL_H

/* lib/flavors */
#pragma GCC poison SL_FLAVORS_JPTR_H SL_FLAVORS_CDC_H SLUICE_FLAVORS_H

/* sluice.h (the library includes what it uses), processors/, bench/, tests/ */
#pragma GCC poison SLUICE_H SLUICE_PROCESSORS_CLI_H SLUICE_BENCH_UTIL_H SL_FUZZ_COMMON_H           \
    SL_TEST_HELPERS_H SL_TEST_KAFKA_HELPERS_H SL_TEST_KINESIS_HELPERS_H SL_TEST_UTIL_H

#endif
