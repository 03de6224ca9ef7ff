/* The error table: names, descriptions and retriability agree. */
#include <criterion/criterion.h>
#include <string.h>

#include "sluice/error.h"

TestSuite(error);

Test(error, every_code_has_name_text_and_class)
{
    static const struct {
        int code;
        const char *name;
        int retriable;
    } cases[] = {
#define X(n, v, r, d) {.code = v, .name = "SL_" #n, .retriable = r},
        SL_ERRORS(X)
#undef X
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_assert_lt(cases[i].code, 0);
        cr_assert_str_eq(sl_err_name(cases[i].code), cases[i].name);
        cr_assert_str_neq(sl_strerror(cases[i].code), "unknown error");
        cr_assert_eq(sl_err_is_retriable(cases[i].code), cases[i].retriable);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(cases[i].code, cases[j].code, "codes are unique");
    }
}

Test(error, success_and_unknown)
{
    cr_assert_str_eq(sl_err_name(0), "SL_OK");
    cr_assert_str_eq(sl_strerror(0), "success");
    cr_assert_str_eq(sl_err_name(-999), "SL_EUNKNOWN");
    cr_assert_str_eq(sl_strerror(-999), "unknown error");
    cr_assert_eq(sl_err_is_retriable(-999), 0);
    cr_assert(sl_err_is_retriable(SL_EIO));
    cr_assert(sl_err_is_retriable(SL_ENOMEM));
    cr_assert_not(sl_err_is_retriable(SL_EJSON));
}
