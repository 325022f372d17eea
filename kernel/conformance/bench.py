"""Measure start->ready and trivial-cell (6*7) latency for kernels via jupyter_client,
plus busy-loop interrupt latency.

Usage (kernelspecs must be installed, e.g. by `esa install --prefix P` with JUPYTER_PATH=P/share/jupyter):
  /usr/bin/python3 kernel/conformance/bench.py [--cells 300] [--starts 5] KERNEL=BUSYLOOP ...
e.g. bench.py esa='for {}' python3='while True: pass'
"""
import argparse
import statistics
import time

from jupyter_client.manager import KernelManager


def start(name):
    t0 = time.perf_counter()
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc, time.perf_counter() - t0


def run_cell(kc, code, timeout=30):
    msg_id = kc.execute(code)
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    return kc.get_shell_msg(timeout=timeout)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=300)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("kernels", nargs="+", help="NAME=BUSY_LOOP_CODE")
    a = ap.parse_args()
    for spec in a.kernels:
        name, loop = spec.split("=", 1)
        starts = []
        for _ in range(a.starts):
            km, kc, dt = start(name)
            starts.append(dt)
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        km, kc, _ = start(name)
        for _ in range(20):  # warm up
            run_cell(kc, "6*7")
        lat = []
        for _ in range(a.cells):
            t0 = time.perf_counter()
            r = run_cell(kc, "6*7")
            lat.append(time.perf_counter() - t0)
            assert r["content"]["status"] == "ok", r["content"]
        intr = []
        for _ in range(5):
            msg_id = kc.execute(loop)
            while True:
                m = kc.get_iopub_msg(timeout=30)
                if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "execute_input":
                    break
            time.sleep(0.2)
            t0 = time.perf_counter()
            km.interrupt_kernel()
            while True:
                r = kc.get_shell_msg(timeout=30)
                if r["parent_header"].get("msg_id") == msg_id:
                    break
            intr.append(time.perf_counter() - t0)
            while True:
                m = kc.get_iopub_msg(timeout=30)
                if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    break
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        print(f"{name:10s} start->ready median {statistics.median(starts)*1000:7.1f} ms (min {min(starts)*1000:.1f}, n={len(starts)})"
              f" | 6*7 p50 {pct(lat,50)*1000:6.2f} ms p99 {pct(lat,99)*1000:6.2f} ms (n={len(lat)})"
              f" | interrupt median {statistics.median(intr)*1000:6.1f} ms max {max(intr)*1000:.1f} ms")


if __name__ == "__main__":
    main()
