import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))
_DEFAULT_MIRROR = HERE.parent.parent / "shared" / "data"

import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mirror() -> Path:
    env = os.environ.get("SHARED_DATA_MIRROR", "")
    for cand in [Path(p) for p in env.split(os.pathsep) if p] + [_DEFAULT_MIRROR]:
        if (cand / "mnist" / "train-images-idx3-ubyte.gz").exists():
            os.environ["SHARED_DATA_MIRROR"] = env or str(cand)
            return cand
    pytest.fail("no MNIST mirror found: set SHARED_DATA_MIRROR to a folder holding mnist/ and fashion-mnist/")


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, mirror):
    return tmp_path_factory.mktemp("data")
