#!/usr/bin/env python3
"""Turn a flat binary into a C source that defines it as a byte array.

Usage: bin2c.py INPUT OUTPUT SYMBOL
Defines `const unsigned char SYMBOL[]` and `const unsigned long SYMBOL_size`.
"""
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, sym = sys.argv[1:]
    with open(src, 'rb') as f:
        data = f.read()
    lines = ['/* Generated from %s by bin2c.py; do not edit. */' % src.split('/')[-1],
             'const unsigned char %s[] = {' % sym]
    for i in range(0, len(data), 12):
        lines.append('    ' + ' '.join('0x%02x,' % b for b in data[i:i + 12]))
    lines.append('};')
    lines.append('const unsigned long %s_size = %d;' % (sym, len(data)))
    with open(dst, 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
