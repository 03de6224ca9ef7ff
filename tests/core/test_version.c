/* One version: meson's project version, the configured sluice/version.h and
 * sl_version() of the shared library agree. SL_MESON_VERSION is
 * meson.project_version(), passed by tests/meson.build. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sluice/sluice.h"

TestSuite(version);

Test(version, library_header_and_meson_agree)
{
    cr_assert_str_eq(sl_version(), SL_MESON_VERSION);
    cr_assert_str_eq(SL_VERSION_STRING, SL_MESON_VERSION);
}

Test(version, parts_compose_the_string)
{
    char s[64];
    snprintf(s, sizeof s, "%d.%d.%d", SL_VERSION_MAJOR, SL_VERSION_MINOR, SL_VERSION_PATCH);
    cr_assert_str_eq(s, SL_VERSION_STRING);
}
