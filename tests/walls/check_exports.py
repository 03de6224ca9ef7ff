#!/usr/bin/env python3
"""Only the public API is exported (tests/walls/meson.build).

Lists libsluice.so's defined dynamic symbols (nm -D --defined-only) and the
functions include/sluice/ declares, as the compiler reads them: gcc
-aux-info on a file including every public header writes each declaration
it saw with the file it came from. Fails on any exported sl__ name, on any
exported symbol no public header declares, and (with --all, a build with
every part) on any declared function the library does not export.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

# Defined by the toolchain in every shared object, not by sluice.
TOOLCHAIN = {'_init', '_fini', '_edata', '_end', '__bss_start'}


def main():
    args = sys.argv[1:]
    want_all = '--all' in args
    args = [a for a in args if a != '--all']
    if len(args) != 4:
        sys.exit('usage: check_exports.py [--all] GCC LIBSLUICE_SO SRC_INCLUDE BUILD_INCLUDE')
    gcc, lib, src_inc, build_inc = args
    src_inc, build_inc = os.path.abspath(src_inc), os.path.abspath(build_inc)

    nm = subprocess.run(['nm', '-D', '--defined-only', lib], capture_output=True, text=True, check=True)
    exported = set()
    for line in nm.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            exported.add(parts[-1].split('@')[0])
    exported -= TOOLCHAIN

    headers = sorted(glob.glob(os.path.join(src_inc, 'sluice', '*.h')) +
                     glob.glob(os.path.join(build_inc, 'sluice', '*.h')))
    declared = set()
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, 'all.c')
        with open(probe, 'w') as f:
            f.write(''.join('#include "%s"\n' % h for h in headers))
        aux = os.path.join(tmp, 'aux.txt')
        subprocess.run([gcc, '-std=c11', '-I', src_inc, '-I', build_inc, '-fsyntax-only',
                        '-aux-info', aux, probe], check=True)
        roots = tuple(os.path.join(d, 'sluice') + os.sep for d in (src_inc, build_inc))
        for line in open(aux):
            m = re.match(r'/\* (.+?):\d+:[A-Z]+ \*/ (.*)', line)
            if not m or not os.path.abspath(m.group(1)).startswith(roots):
                continue
            name = re.search(r'(\w+) \(', m.group(2))
            if name:
                declared.add(name.group(1))
    if len(declared) < 50:
        print('only %d functions found in include/sluice/: the header reading is broken' % len(declared))
        return 1

    bad = []
    for s in sorted(exported):
        if s.startswith('sl__'):
            bad.append('%s: an internal (sl__) symbol is exported' % s)
        elif s not in declared:
            bad.append('%s: exported, but include/sluice/ declares no such function' % s)
    if want_all:
        for s in sorted(declared - exported):
            bad.append('%s: declared in include/sluice/ but not exported (SL_EXPORT?)' % s)
    for b in bad:
        print('FAIL ' + b)
    print('%d exported, %d declared; %d failures' % (len(exported), len(declared), len(bad)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
