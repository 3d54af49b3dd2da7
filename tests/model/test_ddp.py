"""Data-parallel training on CPU: two gloo processes train one model together."""
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from model.nets.dynamics import DYNAMICS_PRESETS, Dynamics
from model.nets.tokenizer import TOKENIZER_PRESETS, Tokenizer
from model.train.train_data import FrameData
from model.train.trainer import decoder_stage, dynamics_stage, tokenizer_stage, train_stage

WORLD = 2
STEPS = 3

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is needed")


def _stages():
    """The three stages as `train` builds them, in turn (the decoder's freezes the rest),
    on tiny modules and random data."""
    torch.manual_seed(0)
    tok, dyn = Tokenizer(TOKENIZER_PRESETS["tiny"]), Dynamics(DYNAMICS_PRESETS["tiny"])
    rng = np.random.default_rng(0)
    n = 24
    data = FrameData(rng.integers(0, 256, (n, 96, 128, 3), dtype=np.uint8), rng.integers(0, 2, (n, 8), dtype=np.uint8),
                     np.zeros(n, np.int64), np.zeros(n, np.int64))
    latents = torch.randn(n, 8, 12, 16)
    cpu = torch.device("cpu")
    yield tokenizer_stage(tok, data, 2, cpu, 1e-2)
    yield dynamics_stage(dyn, latents, data, 4, 2, cpu, 1e-2)
    yield decoder_stage(tok, dyn, latents, data, 4, 2, cpu, 1e-2)


def _recording(batches, drawn: list):
    def draw(rng):
        batch = batches(rng)
        drawn.append(batch[0].float().sum().item())          # a fingerprint of the batch
        return batch
    return draw


def _train_rank(rank: int, tmp: str) -> None:
    torch.set_num_threads(1)                                 # two processes share two cores
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=WORLD)
    try:
        weights, drawn = {}, []
        for stage in _stages():
            stage.batches = _recording(stage.batches, drawn)
            train_stage(stage, Path(tmp) / "run", 5, seed=0, device=torch.device("cpu"), max_steps=STEPS,
                        log=lambda *_: None)
            weights.update({f"{stage.name}.{k}": v.clone() for k, v in stage.module.state_dict().items()})
        weights["drawn"] = torch.tensor(drawn)
        save_file(weights, f"{tmp}/rank{rank}.safetensors")
    finally:
        dist.destroy_process_group()


def test_two_ranks_end_with_identical_weights_from_different_batches(tmp_path):
    ctx = mp.start_processes(_train_rank, args=(str(tmp_path),), nprocs=WORLD, join=False, start_method="spawn")
    deadline = time.monotonic() + 300
    while not ctx.join(timeout=5):                           # raises if a rank failed
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the ranks did not finish: a collective left one waiting")
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(WORLD)]
    drawn = [r.pop("drawn") for r in ranks]
    assert len(drawn[0]) == 3 * STEPS
    assert (drawn[0] != drawn[1]).all(), "the ranks drew the same batches"
    for key, value in ranks[0].items():
        assert torch.equal(value, ranks[1][key]), f"{key} differs between the ranks"
    initial = {f"{s.name}.{k}": v.clone() for s in _stages() for k, v in s.module.state_dict().items()}
    for name in ("tokenizer.encoder.net.0.weight", "dynamics.blocks.0.qkv.weight"):
        assert not torch.equal(ranks[0][name], initial[name]), f"{name} did not train"
    # the decoder fine-tune moved the decoder only
    assert not torch.equal(ranks[0]["decoder.decoder.net.0.weight"], ranks[0]["tokenizer.decoder.net.0.weight"])
    assert torch.equal(ranks[0]["decoder.encoder.net.0.weight"], ranks[0]["tokenizer.encoder.net.0.weight"])
