/* sluice — the wall around lib/kinesis (forced first into each of its files
 * with -include by lib/meson.build; tested by tests/walls).
 *
 * lib/kinesis may use lib/core, lib/runtime, lib/store (its SQLite helpers), jansson, libuv,
 * libcurl, OpenSSL, SQLite and libc.
 * Poisoning an identifier makes any later use of it a hard error, in system headers too: the
 * identifiers below are each forbidden library's central types and header
 * guards, and the include guards of the headers of the layers (and of
 * processors/, bench/, tests/) this layer must not see. A header added to
 * another layer needs its guard here: tests/walls tries every one. */

#ifndef SL_WALL_KINESIS_H
#define SL_WALL_KINESIS_H

/* libh2o (the runtime's operations endpoint) */
#pragma GCC poison h2o_h h2o_context_t h2o_globalconf_t

/* librdkafka */
#pragma GCC poison _RDKAFKA_H_ _RDKAFKA_MOCK_H_ rd_kafka_t rd_kafka_s

/* lib/kafka */
#pragma GCC poison SL_KAFKA_INT_H SL_KAFKA_SOURCE_INT_H SLUICE_KAFKA_H SLUICE_BROKER_H

/* lib/flavors */
#pragma GCC poison SL_FLAVORS_JPTR_H SL_FLAVORS_CDC_H SLUICE_FLAVORS_H

/* lib/testing */
#pragma GCC poison SLUICE_TESTING_H

/* sluice.h (the library includes what it uses), processors/, bench/, tests/ */
#pragma GCC poison SLUICE_H SLUICE_PROCESSORS_CLI_H SLUICE_BENCH_UTIL_H SL_FUZZ_COMMON_H           \
    SL_TEST_HELPERS_H SL_TEST_KAFKA_HELPERS_H SL_TEST_KINESIS_HELPERS_H SL_TEST_UTIL_H

#endif
