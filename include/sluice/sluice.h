/* sluice — event stream processing for event-driven services.
 * Include this one header to get the whole public API. */
#ifndef SLUICE_H
#define SLUICE_H

#include "sluice/broker.h"
#include "sluice/conf.h"
#include "sluice/engine.h"
#include "sluice/error.h"
#include "sluice/flavors.h"
#include "sluice/http.h"
#include "sluice/kafka.h"
#include "sluice/kinesis.h"
#include "sluice/mem.h"
#include "sluice/pipeline.h"
#include "sluice/processor.h"
#include "sluice/record.h"
#include "sluice/store.h"
#include "sluice/testing.h"
#include "sluice/version.h"
#include "sluice/view.h"

#endif
