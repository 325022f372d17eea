"""Measure start->ready and trivial-cell (6*7) latency for kernels via jupyter_client,
plus busy-loop interrupt latency, all kernels in the same run.

Usage (kernelspecs must be installed, e.g. by `esa install --prefix P` with JUPYTER_PATH=P/share/jupyter):
  /usr/bin/python3 kernel/conformance/bench.py [--cells 300] [--starts 7] KERNEL=BUSYLOOP ...
e.g. bench.py esa='for {}' python3='while True: pass'

start->ready is the time from launching the kernel until it has answered kernel_info
and an iopub message has arrived: the condition jupyter_client's wait_for_ready
checks. wait_for_ready then also waits until iopub has been silent for 0.2 s, a
fixed client-side delay reported separately as "wait_for_ready".
kernel_info is the round trip (reply and idle status) of a request every kernel
answers without work: the floor that the client and transport set.
"""
import argparse
import os
import statistics
import time
from queue import Empty

from jupyter_client.manager import KernelManager


def start(name):
    t0 = time.perf_counter()
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    while True:  # jupyter_client's wait_for_ready, without its final flush
        kc.kernel_info()
        try:
            msg = kc.get_shell_msg(timeout=1)
        except Empty:
            continue
        if msg["msg_type"] != "kernel_info_reply":
            continue
        try:
            kc.get_iopub_msg(timeout=0.2)
        except Empty:
            continue
        break
    ready = time.perf_counter() - t0
    while True:  # the flush wait_for_ready adds
        try:
            kc.get_iopub_msg(timeout=0.2)
        except Empty:
            break
    return km, kc, ready, time.perf_counter() - t0


def wait_idle(kc, msg_id, timeout=30):
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return


def run_cell(kc, code, timeout=30):
    msg_id = kc.execute(code)
    wait_idle(kc, msg_id, timeout)
    return kc.get_shell_msg(timeout=timeout)


def kernel_info(kc):
    msg_id = kc.kernel_info()
    wait_idle(kc, msg_id)
    return kc.get_shell_msg(timeout=30)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def ms(x):
    return x * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=300)
    ap.add_argument("--starts", type=int, default=7)
    ap.add_argument("kernels", nargs="+", help="NAME=BUSY_LOOP_CODE")
    a = ap.parse_args()
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    for spec in a.kernels:
        name, loop = spec.split("=", 1)
        starts, wfr = [], []
        for _ in range(a.starts):
            km, kc, ready, full = start(name)
            starts.append(ready)
            wfr.append(full)
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        km, kc, _, _ = start(name)
        for _ in range(20):  # warm up
            run_cell(kc, "6*7")
            kernel_info(kc)
        lat, ki = [], []
        for _ in range(a.cells):
            t0 = time.perf_counter()
            r = run_cell(kc, "6*7")
            lat.append(time.perf_counter() - t0)
            assert r["content"]["status"] == "ok", r["content"]
            t0 = time.perf_counter()
            kernel_info(kc)
            ki.append(time.perf_counter() - t0)
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
            wait_idle(kc, msg_id)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        print(f"{name:10s} start->ready median {ms(statistics.median(starts)):7.1f} ms (min {ms(min(starts)):.1f};"
              f" wait_for_ready median {ms(statistics.median(wfr)):.1f}, n={len(starts)})"
              f" | 6*7 p50 {ms(pct(lat, 50)):6.2f} ms p99 {ms(pct(lat, 99)):6.2f} ms min {ms(min(lat)):.2f} (n={len(lat)})"
              f" | kernel_info p50 {ms(pct(ki, 50)):.2f} ms min {ms(min(ki)):.2f}"
              f" | interrupt median {ms(statistics.median(intr)):6.1f} ms max {ms(max(intr)):.1f} ms")
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
