#!/usr/bin/env python3
"""The README's C is code that compiles, warning-free, as a user would build it.

1. The whole service the README shows is examples/orders.c, verbatim (the
   block after the line "<!-- examples/orders.c -->"); tests/examples runs
   that file against a broker, so the README's copy can never rot.
2. Every ```c block of the README compiles with -std=c11 -Wall -Wextra
   -Werror. A block with a main() is a program; another is a fragment: its
   functions stay at file scope, its statements go into a function, and the
   few names it takes from the text around it (a sink `my_sink`, the
   pipeline `p` of the block before, the `err` buffer) are declared for it.

usage: check_readme.py README.md examples/orders.c SRC_INCLUDE BUILD_INCLUDE CC...
(CC is the compiler's whole command, e.g. "ccache cc")
"""
import os
import re
import subprocess
import sys
import tempfile

readme_path, orders_path = sys.argv[1], sys.argv[2]
includes = sys.argv[3:5]
cc = sys.argv[5:]
readme = open(readme_path, encoding='utf-8').read()
failures = []

# 1. The README's service is the example file.
marker = '<!-- examples/orders.c -->'
at = readme.find(marker)
if at < 0:
    failures.append('README.md has no "%s" block' % marker)
else:
    m = re.compile(r'\s*```c\n(.*?)```', re.S).match(readme, at + len(marker))
    if not m:
        failures.append('no ```c block right after "%s"' % marker)
    else:
        want = open(orders_path, encoding='utf-8').read()
        if m.group(1) != want:
            import difflib
            diff = ''.join(difflib.unified_diff(want.splitlines(True), m.group(1).splitlines(True),
                                                'examples/orders.c', 'README.md'))
            failures.append('README.md shows another examples/orders.c:\n' + diff)

# 2. Every C block compiles without a warning.
blocks = re.findall(r'```c\n(.*?)```', readme, re.S)
if not blocks:
    failures.append('README.md has no C block')

PRELUDE = '#include <sluice/sluice.h>\n#include <assert.h>\n#include <stdio.h>\n#include <string.h>\n'


def as_unit(block, n):
    if re.search(r'^int main\(', block, re.M):
        return block
    # File scope: preprocessor lines, comments alone, and each function
    # definition (from a line at column 0 ending in ")" to the next "}" at
    # column 0). The rest are statements.
    top, body, in_fn = [], [], False
    for line in block.splitlines():
        if in_fn:
            top.append(line)
            if line == '}':
                in_fn = False
            continue
        if line.startswith('#'):
            top.append(line)
        elif re.match(r'^(static |const |int |void |sl_\w+ )\S.*\)\s*$', line):
            top.append(line)
            in_fn = True
        else:
            body.append(line)
    stmts = '\n'.join(body)
    params = []
    decls = ''
    if re.search(r'\bmy_sink\b', stmts):
        params.append('sl_sink_t *my_sink')
    if re.search(r'\bp\b', stmts) and not re.search(r'sl_pipeline_t \*p\b', stmts):
        params.append('sl_pipeline_t *p')
    if re.search(r'\bproc\b', stmts) and not re.search(r'sl_processor_t \*proc\b', stmts):
        params.append('sl_processor_t *proc')
    if re.search(r'\berr\b', stmts) and not re.search(r'char err\[', stmts):
        decls += '    char err[512];\n'
    fn = 'int readme_block_%d(%s);\nint readme_block_%d(%s)\n{\n%s%s\n' % (
        n, ', '.join(params) or 'void', n, ', '.join(params) or 'void', decls, stmts)
    if not re.search(r'^\s*return\b[^\n]*;\s*$', stmts.rstrip().splitlines()[-1] if stmts.strip() else ''):
        fn += '    return 0;\n'
    fn += '}\n'
    return PRELUDE + '\n'.join(top) + '\n' + fn


with tempfile.TemporaryDirectory() as tmp:
    for n, block in enumerate(blocks):
        src = os.path.join(tmp, 'block%d.c' % n)
        with open(src, 'w', encoding='utf-8') as f:
            f.write(as_unit(block, n))
        cmd = cc + ['-std=c11', '-Wall', '-Wextra', '-Werror', '-c', src, '-o',
               os.path.join(tmp, 'block%d.o' % n)] + ['-I' + i for i in includes]
        r = subprocess.run(cmd, capture_output=True, text=True)
        first = block.strip().splitlines()[0] if block.strip() else ''
        if r.returncode:
            failures.append('README C block %d (%s) does not compile with -Wall -Wextra -Werror:\n%s'
                            % (n + 1, first, r.stderr))
        else:
            print('README C block %d (%s): compiles with -Wall -Wextra -Werror' % (n + 1, first))

for f in failures:
    print(f, file=sys.stderr)
sys.exit(1 if failures else 0)
