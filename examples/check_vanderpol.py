#!/usr/bin/env python3
"""The worked field through `odegrad run`: its gradient by every method against central
differences of the loss (docs/api.md, "Bring your own field").

usage: python3 check_vanderpol.py ODEGRAD PLUGIN.so

For D = 4 (two oscillators, P = 4 parameters mu and omega2) and B = 3, RK4 with 32 steps over
t in [0, 1]: each method's --save-grad (gmu.npy, gomega2.npy, gz0.npy) against
(L(theta + e d) - L(theta - e d)) / 2e for each parameter direction d and for one direction of
z0, the losses read from `odegrad run --load DIR --json`.  Tolerances: the difference quotient
with e = 1e-6 errs by O(e^2) and by rounding eps |L| / e, about 1e-10 relative; the discrete
methods are the exact gradient of the discrete loss, so 1e-7; the continuous adjoints differ from
it by RK4's error, O(h^4) = (1/32)^4 ~ 1e-6 times derivatives of order 1, so 1e-5.
Exits 0 when every method agrees, 1 otherwise.  Python's standard library only.
"""
import ast
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

METHODS = {"backprop": 1e-7, "backprop-steps": 1e-7, "backprop-checkpoint": 1e-7,
           "stored-adjoint": 1e-5, "checkpoint-adjoint": 1e-5, "backsolve-adjoint": 1e-5}
VIEWS = ["mu", "omega2"]


def npy_read(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    hlen = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + hlen].decode("latin1"))
    assert header["descr"] == "<f8" and not header["fortran_order"], path
    n = math.prod(header["shape"])
    return list(struct.unpack("<%dd" % n, data[10 + hlen:10 + hlen + 8 * n])), header["shape"]


def npy_write(path, values, shape):
    dims = "(%d,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(map(str, shape))
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % dims
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%dd" % len(values), *values))


def main():
    odegrad, plugin = sys.argv[1], os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp()
    base = [odegrad, "run", "--model", "plugin:" + plugin, "--dim", "4", "--batch", "3",
            "--steps", "32", "--reference", "none", "--repeat", "1", "--warmup", "0"]

    def run(*extra):
        out = subprocess.run(base + list(extra) + ["--json"], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("odegrad run failed (%d): %s" % (out.returncode, out.stderr.strip()))
        return json.loads(out.stdout.strip().splitlines()[-1])

    try:
        prob = os.path.join(work, "problem")
        os.mkdir(prob)
        run("--save-problem", prob)
        theta = {v: npy_read(os.path.join(prob, v + ".npy")) for v in VIEWS}
        z0, zshape = npy_read(os.path.join(prob, "z0.npy"))
        load = os.path.join(work, "load")
        os.mkdir(load)
        shutil.copy(os.path.join(prob, "w.npy"), load)

        def loss(params, z):
            for v in VIEWS:
                npy_write(os.path.join(load, v + ".npy"), params[v], theta[v][1])
            npy_write(os.path.join(load, "z0.npy"), z, zshape)
            return run("--load", load)["loss"]

        e = 1e-6
        fd = []
        for v in VIEWS:
            for k in range(len(theta[v][0])):
                vals = {}
                for s in (1, -1):
                    p = {u: list(theta[u][0]) for u in VIEWS}
                    p[v][k] += s * e
                    vals[s] = loss(p, z0)
                fd.append((vals[1] - vals[-1]) / (2 * e))
        u = [math.sin(1.0 + i) for i in range(len(z0))]  # a fixed direction in z0
        p0 = {v: theta[v][0] for v in VIEWS}
        lp = loss(p0, [z + e * d for z, d in zip(z0, u)])
        lm = loss(p0, [z - e * d for z, d in zip(z0, u)])
        fdz = (lp - lm) / (2 * e)

        bad = 0
        for method, tol in METHODS.items():
            gdir = os.path.join(work, "g-" + method)
            os.mkdir(gdir)
            run("--method", method, "--save-grad", gdir)
            g = []
            for v in VIEWS:
                g += npy_read(os.path.join(gdir, "g" + v + ".npy"))[0]
            gz = npy_read(os.path.join(gdir, "gz0.npy"))[0]
            err = math.sqrt(sum((a - b) ** 2 for a, b in zip(g, fd))) / math.sqrt(
                sum(b * b for b in fd))
            dz = sum(a * b for a, b in zip(gz, u))
            errz = abs(dz - fdz) / abs(fdz)
            ok = err <= tol and errz <= tol
            bad += not ok
            print("%-20s theta %.2e  z0 %.2e  (tolerance %.0e) %s"
                  % (method, err, errz, tol, "ok" if ok else "FAIL"))
        return 1 if bad else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
