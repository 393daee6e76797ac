"""Worker for tests/test_distributed.py: fit several specs (and a plain module) and save their
outputs on rank 0, so one torchrun launch covers every method.

Run as ``python -m torch.distributed.run --nproc_per_node=2 tests/helpers/ddp_fit.py OUT.npz SPEC...``
or without torchrun for the single-process reference.
"""

import sys

import numpy as np


def main() -> None:
    out, specs = sys.argv[1], sys.argv[2:]
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(6, 24))
    X = (rng.normal(size=(1200, 6)) @ basis + 0.05 * rng.normal(size=(1200, 24))).astype(np.float32)
    results = {}
    for spec in specs:
        if spec == "linear":
            import torch

            from emblab.nn.train_loop import TrainConfig, fit_module

            torch.manual_seed(0)
            m = torch.nn.Sequential(torch.nn.Linear(24, 8), torch.nn.ReLU(), torch.nn.Linear(8, 24))
            fit_module(m, lambda mod, b: ((mod(b[0]) - b[0]) ** 2).mean(), [X],
                       TrainConfig(epochs=3, batch_size=128, lr=1e-2, progress=False))
            with torch.no_grad():
                results[spec] = m(torch.from_numpy(X)).numpy()
        else:
            import emblab

            model = emblab.build(spec).fit(X)
            if hasattr(model, "with_coding"):
                # OMP supports and quantised values are discrete functions of the weights: a last-bit
                # difference between the runs can flip one; compare the top-k encoder's float16 codes
                model = model.with_coding(encoder="topk", pack=False, index_coding="fixed", value_bits=16, value_fit="round")
            results[spec] = model.decode(model.encode(X))
    from emblab.nn.distributed import is_main_process

    if is_main_process():
        np.savez(out, **{str(i): results[s] for i, s in enumerate(specs)})


if __name__ == "__main__":
    main()
