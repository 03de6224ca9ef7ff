#!/usr/bin/env python3
"""The walls hold at link time too (tests/walls/meson.build).

check_walls.py proves a layer cannot include what it must not use; a
function can still be declared by hand. This reads each layer's static
library (lib/libsluice-<layer>.a) with nm: every symbol a layer leaves
undefined must be defined by the layer itself or by a layer it may use, or
belong to a library it may use (by the library's prefix) or to libc; a
symbol of a forbidden library or layer, or an sl_ symbol no built layer
defines (code of a part left out of the build), fails the test.
"""
import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_walls import LAYERS  # noqa: E402

PREFIXES = {
    'jansson': ('json_', 'jsonp_'),
    'libuv': ('uv_',),
    'librdkafka': ('rd_kafka',),
    'libcurl': ('curl_', 'Curl_'),
    'openssl': ('EVP_', 'OSSL_', 'OPENSSL_', 'CRYPTO_', 'HMAC', 'SHA1', 'SHA256', 'SHA512', 'ERR_', 'BIO_'),
    'sqlite': ('sqlite3_',),
    'libh2o': ('h2o_',),
}


def nm(args, path):
    r = subprocess.run(['nm'] + args + [path], capture_output=True, text=True, check=True)
    out = set()
    for line in r.stdout.splitlines():
        m = re.match(r'^\s*(?:[0-9a-fA-F]+\s+)?([A-Za-z])\s+(\S+)$', line)
        if m:
            out.add(m.group(2))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: check_links.py BUILD_ROOT')
    libdir = os.path.join(sys.argv[1], 'lib')
    defined, undefined = {}, {}
    for path in sorted(glob.glob(os.path.join(libdir, 'libsluice-*.a'))):
        layer = os.path.basename(path)[len('libsluice-'):-len('.a')]
        if layer not in LAYERS:
            print('FAIL %s: not a layer known to tests/walls/check_walls.py' % path)
            return 1
        defined[layer] = nm(['-g', '--defined-only'], path)
        undefined[layer] = nm(['-u'], path)
    if 'core' not in defined:
        print('FAIL no layer libraries in %s' % libdir)
        return 1
    owner = {}
    for layer, syms in defined.items():
        for s in syms:
            owner.setdefault(s, layer)
    bad = []
    for layer, syms in undefined.items():
        uses, libs = LAYERS[layer]
        for s in sorted(syms):
            if s in defined[layer]:
                continue
            if s in owner:
                if owner[s] not in uses:
                    bad.append('%s uses %s of lib/%s' % (layer, s, owner[s]))
                continue
            if s.startswith('sl_'):
                bad.append('%s uses %s, which no layer of this build defines' % (layer, s))
                continue
            for lib, prefixes in PREFIXES.items():
                if s.startswith(prefixes) and lib not in libs:
                    bad.append('%s uses %s of %s' % (layer, s, lib))
    for b in bad:
        print('FAIL ' + b)
    print('%d layers, %d undefined symbols read; %d failures' % (
        len(defined), sum(len(u) for u in undefined.values()), len(bad)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
