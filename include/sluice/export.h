/* sluice — which declarations the shared library exports.
 *
 * The library is compiled with hidden visibility (gnu_symbol_visibility :
 * 'hidden' in lib/meson.build), so only the functions declared in
 * include/sluice/ with SL_EXPORT are in libsluice.so's dynamic symbol table;
 * the sl__ internals and the helpers of each layer stay private. For a
 * program using the library SL_EXPORT expands to nothing. */
#ifndef SLUICE_EXPORT_H
#define SLUICE_EXPORT_H

#if defined(SL_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define SL_EXPORT __attribute__((visibility("default")))
#else
#define SL_EXPORT
#endif

#endif
