/* sluice — the operations endpoint of a processor (lib/runtime/ops.c):
 * /metrics, /health and /ready on the processor's loop, and what it reads
 * of the processor (lib/runtime/processor.c). Loop thread only. */
#ifndef SL_RUNTIME_OPS_H
#define SL_RUNTIME_OPS_H

#include "runtime/runtime.h"

typedef struct sl__ops_s sl__ops_t;

/* Starts the endpoint when http.listen is set (*@p out stays NULL when it
 * is not). Returns 0, or an error after logging why (a port in use, a
 * build without HTTP). */
int sl__ops_start(sl_processor_t *p, sl__ops_t **out);
/* The processor is closing: stop listening. */
void sl__ops_close(sl__ops_t *o);
/* After the loop ran dry. NULL is accepted. */
void sl__ops_free(sl__ops_t *o);
int sl__ops_port(const sl__ops_t *o);

/* What ops.c reads of its processor (processor.c). */
const sl__source_if_t *sl__proc_src(const sl_processor_t *p, void **opaque);
const sl__service_t *sl__proc_services(const sl_processor_t *p, size_t *n);
/* 0 while running; else "starting", "draining", "stopping" or "stopped". */
const char *sl__proc_phase(const sl_processor_t *p);
/* The error that stopped the processor (sl__proc_fail()), 0 if none. */
int sl__proc_failed(const sl_processor_t *p);
const char *sl__proc_name(const sl_processor_t *p);

#endif
