"""Training on tiny configs: the loss falls, checkpoints round-trip and resume exactly."""
import json

import numpy as np
import pytest
import torch

import main
from model.nets.tokenizer import TOKENIZER_PRESETS, Tokenizer
from model.train.metrics import horizontal_shift, psnr, sharpness, ssim
from model.train.runs import load_run, load_stage
from model.train.objectives import TokenizerObjective, tokenizer_loss
from model.train.train_bench import synthetic
from model.train.trainer import (
    Stage,
    dynamics_stage,
    step_seeds,
    tokenizer_stage,
    train_stage,
    train_step,
)


def write_fake_shards(folder, n=2, t=40, seed=0):
    """Shards in the capture format: a textured strip panning left and right."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(n):
        strip = rng.integers(0, 255, (120, 400, 3), dtype=np.uint8)
        actions = rng.integers(0, 2, (t, 8)).astype(np.uint8)
        xs = np.cumsum(actions[:, 4].astype(int) * 4 - actions[:, 5].astype(int) * 4) % 240
        frames = np.stack([strip[:, x:x + 160] for x in xs])
        np.savez(folder / f"shard_{s:05d}.npz", frames=frames, actions=actions,
                 vars=np.zeros((t, 4), np.float32), episode_start=np.r_[True, np.zeros(t - 1, bool)])
    return folder


def test_train_cli_loss_falls_and_resumes(tmp_path, capsys):
    data = write_fake_shards(tmp_path / "data")
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--preset", "tiny", "--batch", "2",
            "--seq", "4", "--tokenizer-minutes", "5", "--dynamics-minutes", "5", "--max-steps", "12"]
    assert main.main(argv) == 0
    out = capsys.readouterr().out
    assert "tokenizer: 12 steps" in out and "dynamics: 12 steps" in out and "decoder: 12 steps" in out
    assert main.main(argv) == 0                       # resumes where it stopped
    out = capsys.readouterr().out
    assert "tokenizer: resumed at step 12" in out and "dynamics: 24 steps" in out
    # the tokenizer moved on, so the decoder fine-tune made on its old latents starts afresh
    assert "tokenizer changed since the last fine-tune" in out and "decoder: 12 steps" in out
    assert main.main(argv[:-1] + ["8", "--stage", "decoder"]) == 0     # same tokenizer: resumes
    out = capsys.readouterr().out
    assert "decoder: resumed at step 12" in out and "decoder: 20 steps" in out and "dynamics:" not in out
    tokenizer, dynamics, info = load_run(run)
    assert info["dynamics_steps"] == 24 and info["preset"] == "tiny" and info["decoder_steps"] == 20
    fine_tuned = {k: v.clone() for k, v in tokenizer.decoder.state_dict().items()}
    load_stage(run, "tokenizer", tokenizer)
    assert any(not torch.equal(v, tokenizer.decoder.state_dict()[k]) for k, v in fine_tuned.items())
    assert main.main(["export", "--checkpoint", str(run), "--out", str(tmp_path / "pack")]) == 0
    meta = json.loads((tmp_path / "pack" / "world.json").read_text())
    assert meta["training"]["dynamics_steps"] == 24


def test_tokenizer_loss_falls_and_checkpoint_resumes_identically(tmp_path):
    torch.manual_seed(0)
    yy, xx = np.mgrid[:96, :128]
    frames = torch.from_numpy(np.stack([np.stack([(xx * (i + 1) + yy * c) % 256 for c in (1, 2, 3)], -1)
                                        for i in range(8)]).astype(np.uint8))     # smooth, learnable

    def make():
        torch.manual_seed(0)
        tok = Tokenizer(TOKENIZER_PRESETS["tiny"])
        return Stage("tokenizer", tok, TokenizerObjective(tok), lambda rng: (frames[rng.integers(0, 8, 4)],), 3e-3)

    straight = make()
    train_stage(straight, tmp_path / "a", 10, seed=0, device=torch.device("cpu"), max_steps=30, log=lambda *_: None)
    split = make()
    train_stage(split, tmp_path / "b", 10, seed=0, device=torch.device("cpu"), max_steps=15, log=lambda *_: None)
    resumed = make()
    train_stage(resumed, tmp_path / "b", 10, seed=0, device=torch.device("cpu"), max_steps=15, log=lambda *_: None)
    for p, q in zip(straight.module.parameters(), resumed.module.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    fresh = Tokenizer(TOKENIZER_PRESETS["tiny"])
    step, _ = load_stage(tmp_path / "b", "tokenizer", fresh)
    assert step == 30
    with torch.no_grad():
        first = tokenizer_loss(make().module, frames).item()
        torch.manual_seed(1)
        last = tokenizer_loss(fresh, frames).item()
    assert last < first


def test_rank_zero_keeps_the_single_process_streams():
    """Rank 0 draws what runs drew before data-parallel seeding (an old run resumes on the
    same batches and noise); another rank draws its own."""
    rng, noise = step_seeds(3, 7, rank=0)
    assert np.array_equal(rng.integers(0, 1 << 30, 8), np.random.default_rng([3, 7]).integers(0, 1 << 30, 8))
    assert noise == 3 * 1_000_003 + 7
    other, other_noise = step_seeds(3, 7, rank=1)
    assert not np.array_equal(other.integers(0, 1 << 30, 8), np.random.default_rng([3, 7]).integers(0, 1 << 30, 8))
    assert other_noise != noise


def _losses(stage: Stage) -> dict[str, torch.Tensor]:
    """The stage's loss on one batch and one noise draw, in fp32 and under bf16 autocast."""
    batch, out = stage.batches(np.random.default_rng(0)), {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        torch.manual_seed(5)
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            out[name] = stage.objective(*batch)
    return out


def test_bf16_autocast_matches_fp32_losses_and_still_trains():
    """Same weights, batch and noise: the losses under bf16 autocast are fp32 and within 1%
    of fp32 training's (bf16 keeps 8 bits of mantissa; the losses average thousands of
    values), and bf16 steps make the loss fall while the master weights stay fp32."""
    cpu = torch.device("cpu")
    tok, dyn, data, latents = synthetic("tiny", 24, cpu)
    still = latents[:1].expand(24, -1, -1, -1).contiguous()         # a world that stands still: quick to learn
    tokenizer, dynamics = tokenizer_stage(tok, data, 4, cpu, 3e-3), dynamics_stage(dyn, still, data, 4, 4, cpu, 3e-3)
    before = _losses(dynamics)["fp32"]
    for step in range(200, 215):                                     # past the learning-rate warm-up
        train_step(dynamics, dynamics.objective, 0, step, cpu, bf16=True)
    assert _losses(dynamics)["fp32"] < 0.6 * before
    assert all(p.dtype == torch.float32 for p in dynamics.module.parameters())
    for stage in (tokenizer, dynamics):
        losses = _losses(stage)
        assert losses["bf16"].dtype == torch.float32, stage.name
        assert losses["bf16"].item() == pytest.approx(losses["fp32"].item(), rel=0.01), stage.name


def test_benchmark_times_every_stage_in_both_precisions(capsys):
    argv = ["train", "--benchmark", "--preset", "tiny", "--batch", "2", "--seq", "3", "--benchmark-steps", "1"]
    assert main.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("hardware: ") and " thread" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    assert set(rows) == {"tokenizer", "dynamics", "decoder"}
    assert rows["dynamics"][1] == "6"                                 # frames per step: batch x seq
    for cells in rows.values():       # frames, GFLOP | ms, frames/s, GFLOP/s (fp32) | the same (bf16) | ratio
        assert float(cells[2]) > 0 and float(cells[5]) > 0 and float(cells[9]) > 0


def test_train_needs_data_and_out_unless_benchmarking(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["train", "--out", "somewhere"])
    assert exc.value.code == 2 and "--data and --out are required" in capsys.readouterr().err


def test_metrics_on_synthetic_cases():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (96, 128, 3)).astype(np.uint8)
    assert psnr(a, a) == 100.0 and ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + rng.normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    assert 25 < psnr(a, noisy) < 30                  # sigma 10 noise is about 28 dB
    assert horizontal_shift(a, np.roll(a, 7, axis=1)) == 7
    assert horizontal_shift(a, np.roll(a, -4, axis=1)) == -4
    blurred = ((a[:, :-1].astype(int) + a[:, 1:]) // 2).astype(np.uint8)
    assert sharpness(blurred) < 0.7 * sharpness(a[:, :-1])


def test_training_writes_a_jsonl_log_and_a_loss_plot(tmp_path):
    """Where ML tools read them: one JSON line a step, and the stage's loss curve."""
    import json

    from model.train.train_log import TrainLog, read_log
    log = TrainLog(tmp_path, "tokenizer")
    for step in range(1, 61):
        log.add(step, 1.0 / step, 3e-4)
    plot = log.close()
    rows = read_log(tmp_path / "tokenizer.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 61)) and rows[-1]["loss"] == round(1 / 60, 6)
    with open(tmp_path / "tokenizer.jsonl", "a") as f:
        f.write('{"step": 61, "lo')                     # a line cut short by a crash
    assert len(read_log(tmp_path / "tokenizer.jsonl")) == 60
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "tokenizer.jsonl").read_text().splitlines()[0])["lr"] == 3e-4
