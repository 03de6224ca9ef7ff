/* sluice — the library's version (sluice/version.h). */
#include "sluice/version.h"
#include "sluice/error.h" /* declares sl_version() */

const char *sl_version(void)
{
    return SL_VERSION_STRING;
}
