"""Times the three Linear-layer matrix products on the CPU with PyTorch (and NumPy when present).

Usage: python3 bench_matmul.py '[["xwT", n, m, k], ["dyW", n, m, k], ...]' [--seconds 0.3] [--threads T]

Prints one JSON object on stdout:
  {"torch": version or null, "numpy": version or null, "threads": T, "why": reason when torch is missing,
   "results": [{"layout", "n", "m", "k", "torch_gflops", "onednn_gflops", "numpy_gflops"}]}
torch_gflops is torch.matmul as a model would call it (it goes through the BLAS torch was built with:
Debian's python3-torch uses the system libblas, which may be the slow reference BLAS). onednn_gflops is
the same product through oneDNN (torch's mkldnn linear, operands transposed beforehand outside the
timing), the fast CPU GEMM that torch ships; null when oneDNN is unavailable.
Layouts (row-major float32; N token rows, M out features, K in features):
  xwT   C[N,M] = X[N,K] @ W[M,K].T
  dyW   C[N,K] = dY[N,M] @ W[M,K]
  dyTx  C[M,K] = dY[N,M].T @ X[N,K]
Each product is run once to warm up, then timed as the best of 3 trials of enough repetitions to take
about --seconds each.
"""

import json
import os
import sys
import time


def best_rate(fn, flops, seconds):
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    reps = max(1, int(seconds / once))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return flops / best / 1e9


def onednn_rate(torch, layout, a, b, flops, seconds):
    """The product as a oneDNN linear: out = lhs @ rhs.T with lhs, rhs contiguous (prepared untimed)."""
    if not torch.backends.mkldnn.is_available():
        return None
    if layout == "xwT":
        lhs, rhs = a, b
    elif layout == "dyW":
        lhs, rhs = a, b.t().contiguous()
    else:
        lhs, rhs = a.t().contiguous(), b.t().contiguous()
    try:
        lhs_dnn = lhs.to_mkldnn()
        fn = lambda: torch._C._nn.mkldnn_linear(lhs_dnn, rhs)  # noqa: E731
        return best_rate(fn, flops, seconds)
    except (RuntimeError, AttributeError):
        return None


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    shapes = json.loads(args[0])
    seconds = 0.3
    threads = os.cpu_count() or 1
    if "--seconds" in args:
        seconds = float(args[args.index("--seconds") + 1])
    if "--threads" in args:
        threads = int(args[args.index("--threads") + 1])

    out = {"torch": None, "numpy": None, "threads": threads, "results": []}
    try:
        import numpy as np

        out["numpy"] = np.__version__
    except ImportError:
        np = None
    try:
        import torch

        out["torch"] = torch.__version__
        torch.set_num_threads(threads)
        out["threads"] = torch.get_num_threads()
    except ImportError as error:
        torch = None
        out["why"] = f"PyTorch is not importable: {error}"

    generator = torch.Generator().manual_seed(0) if torch is not None else None
    for layout, n, m, k in shapes:
        flops = 2.0 * n * m * k
        row = {"layout": layout, "n": n, "m": m, "k": k, "torch_gflops": None, "onednn_gflops": None,
               "numpy_gflops": None}
        if torch is not None:
            if layout == "xwT":
                a, b = torch.rand(n, k, generator=generator), torch.rand(m, k, generator=generator)
                fn = lambda: torch.matmul(a, b.t())  # noqa: E731
            elif layout == "dyW":
                a, b = torch.rand(n, m, generator=generator), torch.rand(m, k, generator=generator)
                fn = lambda: torch.matmul(a, b)  # noqa: E731
            else:
                a, b = torch.rand(n, m, generator=generator), torch.rand(n, k, generator=generator)
                fn = lambda: torch.matmul(a.t(), b)  # noqa: E731
            with torch.no_grad():
                row["torch_gflops"] = best_rate(fn, flops, seconds)
                row["onednn_gflops"] = onednn_rate(torch, layout, a, b, flops, seconds)
            if np is not None:
                an, bn = a.numpy(), b.numpy()
                if layout == "xwT":
                    fn = lambda: an @ bn.T  # noqa: E731
                elif layout == "dyW":
                    fn = lambda: an @ bn  # noqa: E731
                else:
                    fn = lambda: an.T @ bn  # noqa: E731
                row["numpy_gflops"] = best_rate(fn, flops, seconds)
        elif np is not None:
            rng = np.random.default_rng(0)
            sizes = {"xwT": ((n, k), (m, k)), "dyW": ((n, m), (m, k)), "dyTx": ((n, m), (n, k))}[layout]
            an = rng.random(sizes[0], dtype=np.float32)
            bn = rng.random(sizes[1], dtype=np.float32)
            fn = {"xwT": lambda: an @ bn.T, "dyW": lambda: an @ bn, "dyTx": lambda: an.T @ bn}[layout]
            row["numpy_gflops"] = best_rate(fn, flops, seconds)
        out["results"].append(row)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
