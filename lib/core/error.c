/* sluice — error table (see include/sluice/error.h). */
#include "sluice/error.h"

const char *sl_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define SL__ERR_DESC(name, value, retriable, desc)                                                 \
    case value:                                                                                    \
        return desc;
        SL_ERRORS(SL__ERR_DESC)
#undef SL__ERR_DESC
    default:
        return "unknown error";
    }
}

const char *sl_err_name(int err)
{
    switch (err) {
    case 0:
        return "SL_OK";
#define SL__ERR_NAME(name, value, retriable, desc)                                                 \
    case value:                                                                                    \
        return "SL_" #name;
        SL_ERRORS(SL__ERR_NAME)
#undef SL__ERR_NAME
    default:
        return "SL_EUNKNOWN";
    }
}

int sl_err_is_retriable(int err)
{
    switch (err) {
#define SL__ERR_RETRY(name, value, retriable, desc)                                                \
    case value:                                                                                    \
        return retriable;
        SL_ERRORS(SL__ERR_RETRY)
#undef SL__ERR_RETRY
    default:
        return 0;
    }
}
