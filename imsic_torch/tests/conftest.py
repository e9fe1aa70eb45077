import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_DEFAULT_MIRROR = ROOT.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mirror() -> Path:
    env = os.environ.get("SHARED_DATA_MIRROR", "")
    for cand in [Path(p) for p in env.split(os.pathsep) if p] + [_DEFAULT_MIRROR, ROOT.parent / "data"]:
        if (cand / "mnist" / "train-images-idx3-ubyte.gz").exists():
            return cand
    pytest.skip("no MNIST files: set SHARED_DATA_MIRROR to a folder holding mnist/ and fashion-mnist/")
