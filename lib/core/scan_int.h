/* sluice — what scan_text.c uses of the scanner in scan.c (private). */
#ifndef SL_CORE_SCAN_INT_H
#define SL_CORE_SCAN_INT_H

/* A \u escape at @p p (pointing at the backslash), with jansson's rules:
 * no U+0000, a high surrogate only directly followed by a \u low surrogate.
 * Returns the code point and sets *next, or returns -1 with a reason. */
long sl__scan_uescape(const unsigned char *p, const unsigned char *end, const unsigned char **next,
                      const char **reason);

#endif
