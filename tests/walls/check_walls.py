#!/usr/bin/env python3
"""Proves the walls between the layers of lib/ hold (tests/walls/meson.build).

Each layer of lib/ is compiled with a forced-include wall header
(build/lib/walls/<layer>.h, generated from lib/walls/walls.txt) that poisons
what the layer must not use. This test
takes the compile command ninja really uses for each layer (from the build's
compile_commands.json), and with it compiles tiny probe files:

  - a positive control per layer, including every header the layer may use
    (its libraries, its own and its allowed layers' private headers, the
    public headers of those layers): it must compile;
  - one probe per forbidden header (the system headers of the libraries the
    layer does not depend on, every private header of every other layer,
    the public headers of those layers, sluice.h, every header under
    processors/, bench/ and tests/): each must fail, with the compiler
    naming a poisoned identifier (so a probe failing for another reason,
    or a header added without its guard in the walls, fails the test).

It also checks that every file of lib/ is compiled behind its layer's wall.
"""
import glob
import json
import os
import shlex
import subprocess
import sys
import tempfile

# layer: (layers it may use, libraries it may use). Keep in step with
# lib/meson.build (dependencies) and lib/walls/walls.txt (the poison).
LAYERS = {
    'core': ([], ['jansson']),
    # libh2o (the operations endpoint) brings OpenSSL's headers along.
    'runtime': (['core'], ['jansson', 'libuv', 'libh2o', 'openssl']),
    'testing': (['core'], ['jansson']),
    'kafka': (['core', 'runtime'], ['jansson', 'libuv', 'librdkafka']),
    'store': (['core'], ['jansson', 'sqlite']),
    # Its checkpoints use the store layer's SQLite helpers (sqlite_err.h).
    'kinesis': (['core', 'runtime', 'store'], ['jansson', 'libuv', 'libcurl', 'openssl', 'sqlite']),
    # The flavors (CDC, materialize, JSON pointers).
    'flavors': (['core'], ['jansson']),
}
LIB_HEADERS = {
    'jansson': ['jansson.h'],
    'libuv': ['uv.h'],
    'librdkafka': ['librdkafka/rdkafka.h', 'librdkafka/rdkafka_mock.h'],
    'libcurl': ['curl/curl.h'],
    'openssl': ['openssl/evp.h', 'openssl/crypto.h', 'openssl/core_names.h', 'openssl/params.h',
                'openssl/sha.h'],
    'sqlite': ['sqlite3.h'],
    'libh2o': ['h2o.h'],
}
# The layer each public header belongs to (the others are the core's).
PUBLIC_OWNER = {
    'processor.h': 'runtime',
    'kafka.h': 'kafka',
    'broker.h': 'kafka',
    'kinesis.h': 'kinesis',
    'testing.h': 'testing',
    'flavors.h': 'flavors',
}


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: check_walls.py SOURCE_ROOT BUILD_ROOT')
    src, build = (os.path.abspath(a) for a in sys.argv[1:])
    failures = []

    dirs = sorted(d for d in os.listdir(os.path.join(src, 'lib'))
                  if os.path.isdir(os.path.join(src, 'lib', d)) and d != 'walls')
    unknown = [d for d in dirs if d not in LAYERS]
    if unknown:
        failures.append('lib/%s: not a layer known to tests/walls/check_walls.py (add it '
                        'to LAYERS, lib/walls/walls.txt and lib/meson.build)' % ', lib/'.join(unknown))

    with open(os.path.join(build, 'compile_commands.json')) as f:
        commands = json.load(f)
    layer_cmd = {}
    for c in commands:
        out = c['output']
        if not out.startswith('lib' + os.sep):
            continue
        argv = shlex.split(c['command'])
        fpath = os.path.normpath(os.path.join(c['directory'], c['file']))
        rel = os.path.relpath(fpath, os.path.join(src, 'lib'))
        layer = rel.split(os.sep)[0]
        wall = os.path.join(build, 'lib', 'walls', layer + '.h')
        ok = any(argv[i] == '-include' and os.path.normpath(os.path.join(c['directory'], argv[i + 1])) == wall
                 for i in range(len(argv) - 1))
        if not ok:
            failures.append('%s is compiled without -include build/lib/walls/%s.h' % (rel, layer))
            continue
        layer_cmd.setdefault(layer, (c['directory'], argv, fpath))
    for layer in LAYERS:
        built = glob.glob(os.path.join(src, 'lib', layer, '*.c'))
        if built and layer not in layer_cmd:
            print('layer %s: not built in this configuration' % layer)

    def compile_probe(layer, text, tmp, name):
        cwd, argv, fpath = layer_cmd[layer]
        cmd = []
        skip = 0
        for i, a in enumerate(argv):
            if skip:
                skip -= 1
                continue
            if a in ('-o', '-MQ', '-MF', '-c'):
                skip = 1
                continue
            if a in ('-MD', '-MMD') or a.startswith('-fdiagnostics-color'):
                continue
            cmd.append(a)
        probe = os.path.join(tmp, name + '.c')
        with open(probe, 'w') as f:
            f.write(text + 'typedef int sl_wall_probe_t;\n')
        cmd += ['-fdiagnostics-color=never', '-fsyntax-only', probe]
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        return r.returncode, r.stderr

    private = {l: sorted(glob.glob(os.path.join(src, 'lib', l, '*.h'))) for l in LAYERS}
    public = sorted(os.path.basename(p) for p in glob.glob(os.path.join(src, 'include', 'sluice', '*.h')))
    outside = sorted(p for d in ('processors', 'bench', 'tests', 'examples')
                     for p in glob.glob(os.path.join(src, d, '**', '*.h'), recursive=True)
                     if 'node_modules' not in p)
    probes = 0
    with tempfile.TemporaryDirectory() as tmp:
        for layer, (uses, libs) in LAYERS.items():
            if layer not in layer_cmd:
                continue
            may = set(uses) | {layer}
            # Positive control: everything the layer may include compiles.
            inc = []
            for lib in libs:
                for h in LIB_HEADERS[lib]:
                    # A library this build does without (libh2o under
                    # -Dhttp=disabled) may not be installed at all.
                    rc, err = compile_probe(layer, '#include <%s>\n' % h, tmp, layer + '_has')
                    probes += 1
                    if rc != 0 and 'No such file' in err:
                        print('%s: %s is not installed here, left out of the control' % (layer, h))
                        continue
                    inc.append('#include <%s>' % h)
            for l in sorted(may):
                inc += ['#include "%s"' % p for p in private[l]]
            inc += ['#include "sluice/%s"' % h for h in public
                    if h != 'sluice.h' and PUBLIC_OWNER.get(h, 'core') in may]
            rc, err = compile_probe(layer, '\n'.join(inc) + '\n', tmp, layer + '_control')
            probes += 1
            if rc != 0:
                failures.append('%s: the positive control (what the layer may include) does not '
                                'compile:\n%s' % (layer, err))
            # Every forbidden header must hit the wall.
            forbidden = []
            for lib, headers in LIB_HEADERS.items():
                if lib not in libs:
                    forbidden += [('<%s>' % h, True) for h in headers]
            for l in LAYERS:
                if l not in may:
                    forbidden += [('"%s"' % p, False) for p in private[l]]
            forbidden += [('"sluice/%s"' % h, False) for h in public
                          if h == 'sluice.h' or PUBLIC_OWNER.get(h, 'core') not in may]
            forbidden += [('"%s"' % p, False) for p in outside]
            for i, (h, system) in enumerate(forbidden):
                rc, err = compile_probe(layer, '#include %s\n' % h, tmp, '%s_%d' % (layer, i))
                probes += 1
                if rc != 0 and 'poisoned' in err:
                    continue
                if system and rc != 0 and 'No such file' in err:
                    print('%s: %s is not installed here, not probed' % (layer, h))
                    continue
                failures.append('%s: #include %s %s' % (
                    layer, h, 'compiles: the wall does not stop it' if rc == 0 else
                    'fails, but not on a poisoned identifier:\n' + err))
    for f in failures:
        print('FAIL ' + f)
    print('%d probes over layers %s; %d failures' % (probes, ', '.join(layer_cmd), len(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
