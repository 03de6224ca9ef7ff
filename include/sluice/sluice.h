/* sluice — event stream processing for event-driven services.
 * Include this one header to get the whole public API. */
#ifndef SLUICE_H
#define SLUICE_H

#define SL_VERSION_MAJOR 0
#define SL_VERSION_MINOR 1
#define SL_VERSION_PATCH 0
#define SL_VERSION_STRING "0.1.0"

#include "sluice/broker.h"
#include "sluice/conf.h"
#include "sluice/engine.h"
#include "sluice/error.h"
#include "sluice/flavors.h"
#include "sluice/kafka.h"
#include "sluice/kinesis.h"
#include "sluice/mem.h"
#include "sluice/pipeline.h"
#include "sluice/processor.h"
#include "sluice/record.h"
#include "sluice/store.h"
#include "sluice/testing.h"

#endif
