#!/usr/bin/python3
"""Writes the numpy fixtures the data-reader tests decode, plus expected.json
with the values as numpy itself reports them (the independent oracle).

    /usr/bin/python3 test/data/files/make.py [OUT_DIR]

With no OUT_DIR it rewrites the committed files next to this script; the
tests also run it into a temp folder when /usr/bin/python3 has numpy.
Needs numpy only. Output is deterministic (no random numbers, fixed zip
timestamps are not needed because the tests compare values, not bytes).
"""
import json
import os
import sys

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
os.makedirs(out, exist_ok=True)


def ramp(shape, dtype, scale=1.0, offset=0.0):
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64) * scale + offset).reshape(shape).astype(dtype)


arrays = {
    # name: (array, npy version)
    'f32_v1': (ramp((3, 2, 2), '<f4', 0.37, -1.5), (1, 0)),
    'f32_v2': (ramp((5, 3), '<f4', -0.1, 2.0), (2, 0)),
    'f32_v3': (ramp((2, 2), '<f4', 1.25), (3, 0)),
    'f16_v1': (ramp((4, 3), '<f2', 0.3, -1.0), (1, 0)),
    'f64_v1': (ramp((3, 2), '<f8', 1 / 3), (1, 0)),
    'i64_v2': (np.array([0, -1, 2**40, -(2**53) + 1, 7, 2**62], dtype='<i8'), (2, 0)),
    'i32_v1': (np.array([[1, -2], [3, -2147483648], [2147483647, 0]], dtype='<i4'), (1, 0)),
    'u8_v1': (np.array([[0, 255, 128], [1, 2, 3]], dtype='|u1'), (1, 0)),
    'bool_v1': (np.array([True, False, False, True, True], dtype='|b1'), (1, 0)),
    'labels_i64': (np.array([3, 1, 4, 1, 5, 9, 2], dtype='<i8'), (1, 0)),
}

expected = {}
for name, (a, version) in arrays.items():
    with open(os.path.join(out, name + '.npy'), 'wb') as f:
        np.lib.format.write_array(f, a, version=version)
    values = [str(v) for v in a.ravel().tolist()] if a.dtype == np.int64 else a.ravel().astype(np.float64).tolist()
    expected[name] = {'dtype': str(a.dtype), 'shape': list(a.shape), 'values': values}

# Two arrays per archive, keyed as model inputs; y has its own dtype and rank.
x = ramp((7, 2, 3), '<f4', 0.5, -3.0)
y = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14]], dtype='<i8')
np.savez(os.path.join(out, 'stored.npz'), x=x, y=y)
np.savez_compressed(os.path.join(out, 'deflated.npz'), x=x, y=y)
expected['npz'] = {
    'x': {'dtype': 'float32', 'shape': list(x.shape), 'values': x.ravel().astype(np.float64).tolist()},
    'y': {'dtype': 'int64', 'shape': list(y.shape), 'values': [str(v) for v in y.ravel().tolist()]},
}

with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write('\n')
