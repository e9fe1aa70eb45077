"""The lock files agree with the requirements they are compiled from, with each other and with the conda files;
`make envs GPU=1` picks the CUDA locks; `make help` describes every target. Static checks: nothing is installed and
nothing is fetched. LOCK_RECOMPILE=1 (network: PyPI, and PyTorch's CPU wheels or TORCH_CPU_WHEELS) also recompiles
every lock with uv (UV=<path>, else `uv` on PATH) and checks that it comes out the same."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "environments"
# every folder of environments/ with a requirements.txt; those with a requirements-gpu.txt have a CUDA variant
ENVIRONMENTS = tuple(sorted(p.parent.name for p in ENVS.glob("*/requirements.txt")))
WITH_GPU = tuple(sorted(p.parent.name for p in ENVS.glob("*/requirements-gpu.txt")))
SHARING = (("gamo_keras", "dgc_tf", "caleg_tf"), ("imsic_torch", "dfg_torch"))
TORCH_CPU_SOURCE = "--find-links https://download.pytorch.org/whl/cpu/torch/"
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]+\])?==([0-9][0-9A-Za-z.+!-]*)")


def _name(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _public(version):
    return version.split("+", 1)[0]


def _locks():
    return [ENVS / sub / "requirements.lock" for sub in ENVIRONMENTS] + \
           [ENVS / sub / "requirements-gpu.lock" for sub in WITH_GPU]


def parse_lock(path):
    """{name: (version, [sha256, ...])} and the option lines (package sources), from a pip requirements file with
    hashes; fails on anything a hash-checked `pip install --no-deps` of an exact set should not contain."""
    packages, options = {}, []
    current = None
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.parent.name}/{path.name}:{n}"
        if raw.startswith(" "):
            m = re.fullmatch(r"--hash=sha256:([0-9a-f]{64})( \\)?", line)
            assert m and current, f"{where}: expected a --hash=sha256 line of a requirement: {raw!r}"
            packages[current][1].append(m.group(1))
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        m = re.fullmatch(PIN.pattern + r" \\", line)
        assert m and not m.group(2), f"{where}: not an exact pin continued by its hashes: {raw!r}"
        current = _name(m.group(1))
        assert current not in packages, f"{where}: {current} twice"
        packages[current] = (m.group(3), [])
    return packages, options


def requirement_pins(path):
    """{name: version} of a requirements*.txt, following -r includes."""
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(requirement_pins(path.parent / line[3:].strip()))
            continue
        m = PIN.fullmatch(line)
        assert m, f"{path.relative_to(ROOT)}: not an exact pin: {raw!r}"
        pins[_name(m.group(1))] = m.group(3)
    return pins


def _uncommented(path):
    return [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_environments_and_their_cuda_variants():
    assert set(ENVIRONMENTS) >= {"gamo_keras", "dgc_tf", "caleg_tf", "imsic_torch", "dfg_torch", "benchmark"}
    assert set(WITH_GPU) == set(ENVIRONMENTS) - {"benchmark"}


@pytest.mark.parametrize("lock", _locks(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_lock_line_is_an_exact_pin_with_hashes(lock):
    packages, options = parse_lock(lock)
    assert packages
    for name, (version, hashes) in packages.items():
        assert hashes, f"{lock.name}: {name}=={version} has no hash"
    # The lock was compiled by `make lock`, which says so in its header.
    assert "#    make lock" in lock.read_text().splitlines()[1]
    # The one source besides PyPI that a lock may name: torch's CPU wheels, in the CPU locks of the torch folders.
    if lock.name == "requirements.lock" and "torch" in packages:
        assert options == [TORCH_CPU_SOURCE]
    else:
        assert options == []


@pytest.mark.parametrize("sub", ENVIRONMENTS)
def test_every_top_level_pin_is_in_the_lock_at_its_version(sub):
    variants = [("requirements.txt", "requirements.lock")]
    if sub in WITH_GPU:
        variants.append(("requirements-gpu.txt", "requirements-gpu.lock"))
    for req, lock in variants:
        pins = requirement_pins(ENVS / sub / req)
        packages, _ = parse_lock(ENVS / sub / lock)
        for name, version in pins.items():
            assert name in packages, f"{sub}/{lock}: {name} of {req} is missing"
            # ==X admits X's local builds (torch==2.13.0 is met by 2.13.0+cpu)
            assert _public(packages[name][0]) == version, f"{sub}/{lock}: {name} {packages[name][0]} vs {req} {version}"


@pytest.mark.parametrize("sub", WITH_GPU)
def test_the_cpu_and_cuda_locks_of_a_folder_share_every_version(sub):
    cpu, _ = parse_lock(ENVS / sub / "requirements.lock")
    gpu, _ = parse_lock(ENVS / sub / "requirements-gpu.lock")
    # the CUDA variant is the CPU one plus CUDA packages: numpy, scipy, scikit-learn, ... at the same versions
    assert set(cpu) <= set(gpu), f"{sub}: only in the CPU lock: {sorted(set(cpu) - set(gpu))}"
    differ = {n: (cpu[n][0], gpu[n][0]) for n in cpu if cpu[n][0] != gpu[n][0]}
    if "torch" in cpu:
        # the one difference: torch's build (same version), CPU from PyTorch's CPU wheels, CUDA from PyPI
        assert differ == {"torch": (cpu["torch"][0], _public(cpu["torch"][0]))}
        assert cpu["torch"][0].endswith("+cpu")
        assert not set(cpu["torch"][1]) & set(gpu["torch"][1])
    else:
        assert differ == {}
    cuda = sorted(n for n in gpu if n.startswith(("nvidia-", "jax-cuda", "cuda-")))
    assert cuda and not [n for n in cpu if n.startswith(("nvidia-", "jax-cuda", "cuda-", "triton"))]
    if "tensorflow" in cpu:
        # tensorflow[and-cuda] and jax[cuda12]: the CUDA 12 libraries both need, and JAX's CUDA plugin
        assert {"jax-cuda12-plugin", "jax-cuda12-pjrt", "nvidia-cudnn-cu12", "nvidia-cublas-cu12"} <= set(cuda)
        assert "tensorflow[and-cuda]==" in (ENVS / sub / "requirements-gpu.txt").read_text()
        assert "jax[cuda12]==" in (ENVS / sub / "requirements-gpu.txt").read_text()


def test_environments_share_the_version_of_every_package_no_requirements_file_pins_apart():
    """A package two environments both hold has one version, unless a requirements.txt pins it itself (the
    benchmark runner's typing_extensions): the same numpy, scipy, ... everywhere keeps splits byte-identical."""
    pinned = set()
    for sub in ENVIRONMENTS:
        pinned |= set(requirement_pins(ENVS / sub / "requirements.txt"))
    seen = {}
    for lock in _locks():
        for name, (version, _) in parse_lock(lock)[0].items():
            seen.setdefault(name, {})[f"{lock.parent.name}/{lock.name}"] = _public(version)
    shared_pins = set(requirement_pins(ENVS / "benchmark" / "requirements.txt")) & \
        set(requirement_pins(ENVS / "gamo_keras" / "requirements.txt"))
    for name, where in seen.items():
        if len(set(where.values())) > 1:
            assert name in pinned and name not in shared_pins, f"{name}: {where}"


@pytest.mark.parametrize("group", SHARING, ids="+".join)
def test_folders_sharing_an_environment_have_the_same_locks(group):
    for name in ("requirements.lock", "requirements-gpu.lock", "requirements-gpu.txt"):
        first = _uncommented(ENVS / group[0] / name)
        for sub in group[1:]:
            assert _uncommented(ENVS / sub / name) == first, f"{sub}/{name} differs from {group[0]}/{name}"


def _env_sh(*args, gpu_env=None):
    env = dict(os.environ, VENVS="/nonexistent-venvs")
    env.pop("GPU", None)
    if gpu_env is not None:
        env["GPU"] = gpu_env
    p = subprocess.run([str(ENVS / "env.sh"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.mark.parametrize("sub", ENVIRONMENTS)
def test_env_sh_picks_the_cuda_lock_and_folder_with_the_gpu_switch(sub):
    cpu_lock, gpu_lock = _env_sh("--lock", sub), _env_sh("--gpu", "--lock", sub)
    assert cpu_lock == f"environments/{sub}/requirements.lock"
    cpu_dir, gpu_dir = _env_sh("--path", sub), _env_sh("--gpu", "--path", sub)
    assert cpu_dir.startswith("/nonexistent-venvs/") and gpu_dir.startswith("/nonexistent-venvs/")
    # GPU=1 in the environment is the same switch (make exports it to every env.sh it and the runner call)
    assert _env_sh("--path", sub, gpu_env="1") == gpu_dir and _env_sh("--path", sub, gpu_env="") == cpu_dir
    if sub in WITH_GPU:
        assert gpu_lock == f"environments/{sub}/requirements-gpu.lock"
        assert gpu_dir != cpu_dir and "-cuda-" in gpu_dir and "-cuda-" not in cpu_dir
    else:  # no CUDA variant: the benchmark runner starts each method in that method's environment
        assert (gpu_lock, gpu_dir) == (cpu_lock, cpu_dir)


def test_folders_sharing_a_lock_share_one_environment():
    for group in SHARING:
        for flags in ((), ("--gpu",)):
            assert len({_env_sh(*flags, "--path", sub) for sub in group}) == 1


def _make(*args):
    env = dict(os.environ)
    env.pop("GPU", None)
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
    p = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("gpu", ["", "1"])
def test_make_envs_installs_each_folder_from_its_lock_of_the_chosen_variant(gpu):
    out = _make("-n", "envs", f"GPU={gpu}")
    for sub in ENVIRONMENTS:
        lock = "requirements-gpu.lock" if gpu and sub in WITH_GPU else "requirements.lock"
        line = rf"environments/env\.sh +{'--gpu ' if gpu else ''}{sub} >/dev/null +# installs environments/{sub}/{lock}"
        assert re.search(rf"^{line}$", out, re.M), out


def test_env_sh_installs_the_lock_exactly():
    text = (ENVS / "env.sh").read_text()
    assert re.search(r'install .*--require-hashes --no-deps -r "\$lock"', text)


def _yml_pip_lines(sub):
    lines, inside = [], False
    for raw in (ENVS / sub / "environment.yml").read_text().splitlines():
        if raw.strip() == "- pip:":
            inside = True
        elif inside and raw.strip().startswith("- "):
            lines.append(raw.strip()[2:])
    return lines


@pytest.mark.parametrize("sub", ENVIRONMENTS)
def test_the_conda_file_installs_the_builds_of_the_lock(sub):
    """environment.yml installs requirements.txt from the package sources that requirements.lock names, so pip
    picks the lock's builds: torch==2.13.0 there is only met best by 2.13.0+cpu (a local build sorts above the public
    one), from the page that lists torch alone, and every other package comes from PyPI as in the lock."""
    pip = _yml_pip_lines(sub)
    assert "-r requirements.txt" in pip and "-e ../../shared_data" in pip
    sources = [line for line in pip if line.startswith("-") and not line.startswith(("-r ", "-e "))]
    packages, options = parse_lock(ENVS / sub / "requirements.lock")
    assert sources == options
    pins = requirement_pins(ENVS / sub / "requirements.txt")
    if "torch" in pins:
        assert packages["torch"][0] == pins["torch"] + "+cpu" and sources == [TORCH_CPU_SOURCE]
        assert packages["torchvision"][0] == pins["torchvision"]


def _help_rows():
    rows = {}
    for line in _make("help").splitlines():
        m = re.fullmatch(r"  make (\S+)(?:\s+(.*))?", line)
        if m:
            assert m.group(1) not in rows, f"make help lists {m.group(1)} twice"
            rows[m.group(1)] = (m.group(2) or "").strip()
    return rows


def _make_targets():
    """Every target make knows from the Makefile and the targets.mk files (not files, not patterns)."""
    env = dict(os.environ)
    for var in ("GPU", "MAKEFLAGS", "MAKELEVEL"):
        env.pop(var, None)
    p = subprocess.run(["make", "-pRrq", "-C", str(ROOT), ":"], env=env, capture_output=True, text=True, timeout=60)
    targets, not_target = set(), False
    for line in p.stdout.splitlines():
        if line.startswith("# Not a target:"):
            not_target = True
            continue
        m = re.match(r"^([a-z][a-zA-Z0-9_.-]*):(?!=)", line)
        if m and not not_target:
            targets.add(m.group(1))
        if not line.startswith("#"):
            not_target = False
    return targets


def test_make_help_describes_every_target():
    rows = _help_rows()
    missing = sorted(t for t, d in rows.items() if len(d) < 10)
    assert not missing, f"make help: no description for {missing}"
    listed = set(rows)
    for sub in ENVIRONMENTS:
        assert f"env-{sub}" in listed
    assert {"help", "envs", "lock", "clean-envs", "data", "test", "report", "benchmark"} <= listed
    assert {t for t in listed if t.startswith("test-")} >= {"test-repo", "test-shared", "test-subprojects",
                                                             "test-split-identity", "test-benchmark"}
    mk = "\n".join(p.read_text() for p in ROOT.glob("*/targets.mk"))
    for name in re.findall(r"^REPRODUCE\.([a-z0-9-]+)\s*:?=", mk, re.M):
        assert f"reproduce-{name}" in listed
        assert rows[f"reproduce-{name}"].split()[0].endswith("/run.py")
    for name in re.findall(r"^(bench-[a-z0-9-]+):", mk, re.M):
        assert name in listed
    unlisted = sorted(_make_targets() - listed - {"Makefile"})
    assert not unlisted, f"targets that make help does not list: {unlisted}"
    # the top-level Makefile describes each of its targets on the target's own line
    bare = [line for line in (ROOT / "Makefile").read_text().splitlines()
            if re.match(r"^(\$\(addprefix env-|[a-z][a-zA-Z0-9_.-]*:(?!=))", line)
            and not line.startswith("reproduce-%:") and " ## " not in line]
    assert not bare, f"Makefile targets without a `## ` description: {bare}"


@pytest.mark.skipif(os.environ.get("LOCK_RECOMPILE") != "1", reason="LOCK_RECOMPILE=1 recompiles the locks (network)")
def test_the_locks_recompile_unchanged(tmp_path):
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "LOCK_RECOMPILE=1 needs uv: UV=<path to uv> or uv on PATH"
    copy = tmp_path / "environments"
    shutil.copytree(ENVS, copy)
    env = dict(os.environ, UV=uv)
    env.pop("UPGRADE", None)
    p = subprocess.run([str(copy / "lock.sh"), *ENVIRONMENTS], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stderr
    for lock in _locks():
        (old, old_options), (new, new_options) = parse_lock(lock), parse_lock(copy / lock.parent.name / lock.name)
        where = lock.relative_to(ROOT)
        assert new_options == old_options, where
        assert {n: v for n, (v, _) in new.items()} == {n: v for n, (v, _) in old.items()}, where
        for name, (_, hashes) in old.items():
            # a wheel read from a local copy has its one hash, the same read from PyTorch's page every platform's
            a, b = set(hashes), set(new[name][1])
            assert a == b or (name == "torch" and (a <= b or b <= a)), f"{where}: {name} hashes differ"
