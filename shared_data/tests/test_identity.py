"""What makes a record's numbers (machine, machine_id), the command that re-makes it, the hash of its predictions."""
import json
import sys

import numpy as np
import pytest

from shared_data import identity, records

from test_records import _finish, _result

SAPPHIRE = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_bf16 \
amx_int8 rdrand

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_bf16 \
amx_int8 rdrand
"""
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse4_1 sse4_2 avx avx2 fma f16c rdrand
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm asimddp sve bf16 i8mm
CPU implementer\t: 0x41
"""


def test_the_cpu_is_named_by_the_extensions_kernels_dispatch_on():
    cpu = identity.cpu_info(SAPPHIRE)
    assert cpu["model"] == "Intel(R) Xeon(R) Platinum 8480+" and cpu["vendor"] == "GenuineIntel"
    assert cpu["flags"] == sorted(["sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                                   "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"])
    assert "rdrand" not in cpu["flags"] and cpu["cores"] >= 1 and cpu["usable_cores"] >= 1
    arm = identity.cpu_info(GRAVITON)
    assert arm["vendor"] == "0x41" and {"asimd", "asimddp", "sve", "bf16", "i8mm"} <= set(arm["flags"])
    assert identity.cpu_info("")["model"]  # no /proc/cpuinfo: what platform knows


def test_machine_id_hashes_what_changes_numbers_and_nothing_else():
    env = {"OMP_NUM_THREADS": "1", "HOME": "/somewhere", "PATH": "/bin"}
    base = identity.describe_machine(cpuinfo=SAPPHIRE, environ=env)
    assert base["env"] == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": None, "TF_ENABLE_ONEDNN_OPTS": None}
    assert base["gpus"] == [] and base["threads"] is None and base["extra"] == {}
    mid = identity.machine_id(base)
    assert len(mid) == identity.ID_LENGTH and int(mid, 16) >= 0
    # the same machine, described again or with its keys in another order, has the same id
    assert identity.machine_id(json.loads(json.dumps(base, sort_keys=False))) == mid
    assert identity.machine_id(identity.describe_machine(cpuinfo=SAPPHIRE, environ=dict(env, HOME="/x"))) == mid
    others = [identity.describe_machine(cpuinfo=EPYC, environ=env),
              identity.describe_machine(cpuinfo=SAPPHIRE, environ=dict(env, TF_ENABLE_ONEDNN_OPTS="0")),
              identity.describe_machine(cpuinfo=SAPPHIRE, environ=dict(env, OMP_NUM_THREADS="2")),
              identity.describe_machine(cpuinfo=SAPPHIRE, environ=dict(env, ONEDNN_MAX_CPU_ISA="AVX2")),
              identity.describe_machine(cpuinfo=SAPPHIRE, environ=env, threads={"torch": 2}),
              identity.describe_machine(cpuinfo=SAPPHIRE, environ=env, extra={"xla": True}),
              identity.describe_machine(cpuinfo=SAPPHIRE, environ=env,
                                        gpus=[{"name": "NVIDIA H100 80GB HBM3", "compute_capability": (9, 0)}])]
    ids = {identity.machine_id(m) for m in others}
    assert mid not in ids and len(ids) == len(others)
    assert others[-1]["gpus"] == [{"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}]
    assert identity.machine_differences(base, others[1]) == ["env.TF_ENABLE_ONEDNN_OPTS: None vs '0'"]
    assert any(d.startswith("cpu.flags") for d in identity.machine_differences(base, others[0]))


def test_commands_are_recorded_portable():
    argv = ["run.py", "--dataset", "mnist", "--out", "/abs/runs", "--data-root=/abs/data", "--mirror", "/m1",
            "--mirror", "/m2", "--publish", "/abs/results", "--allow-dirty", "--budget", "smoke"]
    command = identity.run_command(argv, script="/anywhere/dgc_tf/run.py")
    assert command == ["dgc_tf/run.py", "--dataset", "mnist", "--out", "<out>", "--data-root=<data-root>",
                       "--mirror", "<mirror>", "--mirror", "<mirror>", "--publish", "<results>", "--allow-dirty",
                       "--budget", "smoke"]
    assert identity.strip_path_flags(command[1:]) == ["--dataset", "mnist", "--budget", "smoke"]
    assert identity.run_command(["pytest", "-q"], script="/x/pytest") is None  # a test calling main(argv)
    assert identity.run_command(["run.py"], script="/x/dgc_tf/train.py") is None
    assert identity.run_command() is None  # this process is pytest, no run.py
    assert identity.gpu_names_of("gpu: NVIDIA A100 x2, NVIDIA H100 x1") == ["NVIDIA A100"] * 2 + ["NVIDIA H100"]
    assert identity.gpu_names_of("cpu: AMD EPYC (2 cores)") == []


def test_records_carry_machine_command_and_predictions_hash(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run.py", "--budget", "smoke", "--out", str(tmp_path)])
    monkeypatch.setattr(identity, "run_command",
                        lambda argv=None, script=None: ["toy_np/run.py", *identity.portable_args(sys.argv[1:])])
    run = records.RunDir.create(tmp_path, "toy", "r1", {})
    r = _result(config={"lr": 0.1, "threads": 3})
    assert r["command"] == ["toy_np/run.py", "--budget", "smoke", "--out", "<out>"]
    assert r["machine"]["threads"]["requested"] == 3
    assert r["machine_id"] == identity.machine_id(r["machine"])
    pred = [0, 0, 1, 2, 2, 2]
    run.save_predictions(y_true=np.array([0, 0, 1, 1, 2, 2]), y_pred=np.array(pred, dtype=np.int16),
                         scores=np.eye(3)[pred])
    run.write_result(r)
    run.log_eval("test", r["metrics"], step=1)
    back = records.validate_run_dir(run.path)
    assert back["predictions_sha256"] == records.predictions_sha256(np.array(pred, dtype=np.int64))
    assert back["predictions_sha256"] != records.predictions_sha256([0, 0, 1, 2, 2, 1])
    tampered = dict(back, predictions_sha256="0" * 64)
    records.atomic_write_json(run.result_path, tampered)
    with pytest.raises(records.ResultValidationError, match="predictions_sha256"):
        records.validate_run_dir(run.path)


def test_validation_accepts_old_records_and_refuses_broken_provenance():
    r = _result()
    old = {k: v for k, v in r.items() if k not in ("command", "machine", "machine_id")}
    assert records.validate_result(old) == old  # records made before these fields
    records.validate_result(dict(r, command=None))  # a run made by a test calling main(argv)
    for broken, pattern in [(dict(r, machine_id="0" * 12), "not the hash"),
                            ({k: v for k, v in r.items() if k != "machine_id"}, "go together"),
                            (dict(r, machine={"cpu": {}}, machine_id=identity.machine_id({"cpu": {}})), "lacks"),
                            (dict(r, command="python run.py"), "command"),
                            (dict(r, command=["--budget", "smoke"]), "command"),
                            (dict(r, predictions_sha256="abc"), "predictions_sha256")]:
        with pytest.raises(records.ResultValidationError, match=pattern):
            records.validate_result(broken)


def test_publish_tells_machines_apart_by_identity_under_one_device_label(tmp_path):
    results = tmp_path / "results"
    label = "cpu: Intel(R) Xeon(R) Processor (2 cores)"
    first = records.RunDir.create(tmp_path / "a", "toy", "r1", {})
    _finish(first, _result(device=label, machine=identity.describe_machine(cpuinfo=SAPPHIRE)))
    assert records.publish(first.path, results) == results / "toy" / "r1" / "result.json"
    other_machine = identity.describe_machine(cpuinfo=SAPPHIRE, environ={"TF_ENABLE_ONEDNN_OPTS": "0"})
    other = records.RunDir.create(tmp_path / "b", "toy", "r1", {})
    _finish(other, _result(device=label, machine=other_machine, wall_time_s=9.0))
    target = records.publish(other.path, results)
    slug = records.device_slug(label)
    assert target == results / "toy" / f"r1--{slug}-{identity.machine_id(other_machine)}" / "result.json"
    assert json.loads((results / "toy" / "r1" / "result.json").read_text())["wall_time_s"] == 1.5
    # the same machine again: the same folder, refused unless --replace
    again = records.RunDir.create(tmp_path / "c", "toy", "r1", {})
    _finish(again, _result(device=label, machine=identity.describe_machine(cpuinfo=SAPPHIRE), wall_time_s=7.0))
    with pytest.raises(records.RunError, match="another result of this run on this device"):
        records.publish(again.path, results)


def test_threads_and_gpus_come_from_the_frameworks_already_loaded(monkeypatch):
    import types

    cuda = types.SimpleNamespace(is_available=lambda: True, device_count=lambda: 1,
                                 get_device_name=lambda i: "NVIDIA H100 80GB HBM3",
                                 get_device_capability=lambda i: (9, 0))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(get_num_threads=lambda: 4,
                                                                    get_num_interop_threads=lambda: 2, cuda=cuda))
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    threads, gpus = identity.framework_facts("gpu: NVIDIA H100 80GB HBM3 x1")
    assert threads == {"torch": 4, "torch_interop": 2}
    assert gpus == [{"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}]
    assert identity.framework_facts("cpu: AMD EPYC (2 cores)")[1] == []  # a CPU run never asks CUDA
    m = records.default_machine("gpu: NVIDIA H100 80GB HBM3 x1", {"threads": 1})
    assert m["threads"] == {"torch": 4, "torch_interop": 2, "requested": 1}
    assert m["gpus"] == gpus
    monkeypatch.delitem(sys.modules, "torch")  # no framework loaded: the names of the device label
    assert records.default_machine("gpu: NVIDIA A100 x2", {})["gpus"] == [{"name": "NVIDIA A100"}] * 2
