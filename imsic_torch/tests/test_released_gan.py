"""--gan released: the authors' GAN checkpoints, found like a dataset file, verified, loaded without running code."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from imsic import released
from imsic.io import StageError
from imsic.nets import Discriminator, Generator
from shared_data.fetch import DataError, locate

ROOT = Path(__file__).resolve().parents[1]


def _released_format(path, code_dim=3, seed=0):
    """A checkpoint laid out as the authors' (generator, discriminator, the training script's Namespace)."""
    torch.manual_seed(seed)
    g, d = Generator(code_dim, 0.8, 62, 10), Discriminator(code_dim, 0.8, False, 10)
    params = argparse.Namespace(n_epochs=500, batch_size=64, lr=2e-4, b1=0.5, b2=0.999, latent_dim=62,
                                code_dim=code_dim, n_classes=10, img_size=32, channels=1, sample_interval=800)
    torch.save({"generator": g.state_dict(), "discriminator": d.state_dict(), "parameters": params}, path)
    return g


def test_a_checkpoint_in_the_released_format_loads_with_its_parameters(tmp_path):
    g = _released_format(tmp_path / "GAN.pt")
    blob = released.read_checkpoint(tmp_path / "GAN.pt")
    assert blob["parameters"]["code_dim"] == 3 and blob["parameters"]["n_epochs"] == 500
    g2 = Generator(3, 0.8, 62, 10)
    g2.load_state_dict(blob["generator"])
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(), g2.state_dict().values()))


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_GAN",))


def test_a_planted_pickle_is_refused_and_runs_no_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"generator": {}, "discriminator": {}, "parameters": _Payload()}, tmp_path / "GAN.pt")
    with pytest.raises(StageError, match="not a released IMSIC GAN checkpoint"):
        released.read_checkpoint(tmp_path / "GAN.pt")
    assert not (tmp_path / "PWNED_BY_GAN").exists()


def test_a_checkpoint_whose_checksum_does_not_match_is_refused(tmp_path):
    root = tmp_path / "data"
    (root / "imsic").mkdir(parents=True)
    _released_format(root / "imsic" / "GAN_Fashion_MNIST.pt")  # the right name, other bytes
    with pytest.raises(DataError, match="checksum mismatch"):
        released.load("fashion", data_root=root, mirrors=[], download=False)


def test_the_mirrored_checkpoints_verify_and_fit_the_port_networks(mirror, tmp_path):
    for dataset, code_dim in (("mnist", 4), ("fashion", 3)):
        path = locate(released.file_spec(dataset), tmp_path, [mirror], download=False)
        blob = released.read_checkpoint(path)
        assert blob["parameters"]["code_dim"] == code_dim == released.code_dim(dataset)
        Generator(code_dim, 0.8, 62, 10).load_state_dict(blob["generator"])
        Discriminator(code_dim, 0.8, False, 10).load_state_dict(blob["discriminator"])
    with pytest.raises(ValueError, match="released GANs for mnist and fashion"):
        released.file_spec("cifar10")


def _run(args, tmp_path, mirror):
    env = dict(os.environ, SHARED_DATA_MIRROR=str(mirror), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT.parent / "shared_data"), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(ROOT / "run.py"), "--budget", "smoke", "--out", str(tmp_path / "runs"),
           "--data-root", str(tmp_path / "data"), "--no-progress", "--threads", "1", "--dataset", "mnist"] + args
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)


def test_a_released_gan_run_records_the_gan_and_keeps_its_variant_apart(mirror, tmp_path):
    p = _run(["--gan", "released"], tmp_path, mirror)
    assert p.returncode == 0, p.stderr
    run_dir = tmp_path / "runs" / "imsic" / "mnist-imsic-imsic-ganreleased-split0-seed0-smoke"
    r = json.loads((run_dir / "result.json").read_text())
    assert r["variant"] == "imsic gan=released" and r["faithful"] is True
    assert r["extra"]["gan"] == "released@649abbd" and r["config"]["gan"] == "released"
    assert r["extra"]["gan_iterations"] is None and r["config"]["code_dim"] == 4
    stages = json.loads((run_dir / "stages.json").read_text())
    assert stages["gan"]["parameters"]["n_epochs"] == 500
    # a flag that only changes GAN training is refused: no GAN trains
    bad = _run(["--gan", "released", "--lambda-con", "0.2"], tmp_path, mirror)
    assert bad.returncode == 2 and "--gan released trains no GAN" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_map_classifier_recall_is_measured_per_class_over_the_whole_split():
    from imsic.category_map import train_recall

    class Always(torch.nn.Module):  # says "class 0" to every image, as a map classifier would that saw only 0s
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float()

    y = torch.arange(10).repeat_interleave(30).numpy()
    x = torch.zeros(len(y), 28, 28, dtype=torch.uint8).numpy()
    recall = train_recall(Always(), x, y, 10, "cpu", batch=64)
    assert recall == [1.0] + [0.0] * 9  # a leading slice of a class-ordered split would have said 1.0


def test_the_gan_stage_leaves_a_resume_point_every_epoch_and_snapshots_every_checkpoint_every(mirror, tmp_path,
                                                                                              monkeypatch):
    import run as imsic_run
    from imsic import io, pipeline
    from shared_data import records, splits

    monkeypatch.setenv("SHARED_DATA_MIRROR", str(mirror))
    args = imsic_run.parse_args(["--dataset", "mnist", "--budget", "smoke", "--data-root", str(tmp_path / "data"),
                                 "--out", str(tmp_path / "runs")])
    cfg = dict(imsic_run.configure(args), split_seed=0, seed=0)
    cfg.update(gan_epochs=3, checkpoint_every=100, resume_every=1, device_description="cpu")
    split = splits.get_split("mnist", "imsic", 0, data_root=tmp_path / "data", test_per_class=cfg["test_per_class"])
    run = records.RunDir.create(tmp_path / "runs", "imsic", "resume-points", cfg)
    saved = []
    real_save = io.save_torch
    monkeypatch.setattr(io, "save_torch", lambda path, obj: (saved.append(Path(path).name), real_save(path, obj))[1])
    pipeline.Run(cfg, split, run, torch.device("cpu"), data_root=tmp_path / "data", progress=False).gan()
    assert saved == ["gan_last.pt", "gan_last.pt", "gan_epoch_3.pt", "gan_last.pt", "gan_final.pt"]
