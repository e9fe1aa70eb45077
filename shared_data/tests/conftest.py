import os
from pathlib import Path

import pytest

# CI and the Makefile point SHARED_DATA_MIRROR at ../shared/data; fall back to that sibling folder.
_DEFAULT_MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def mirror() -> Path:
    env = os.environ.get("SHARED_DATA_MIRROR", "")
    for cand in [Path(p) for p in env.split(os.pathsep) if p] + [_DEFAULT_MIRROR]:
        if (cand / "mnist" / "train-images-idx3-ubyte.gz").exists():
            os.environ["SHARED_DATA_MIRROR"] = env or str(cand)  # for code that reads the variable itself
            return cand
    pytest.fail("no MNIST mirror found: set SHARED_DATA_MIRROR to a folder holding mnist/ and fashion-mnist/")


@pytest.fixture(scope="session")
def split_root(tmp_path_factory, mirror):
    """A data root shared by the tests of one session, so each real split is drawn once."""
    return tmp_path_factory.mktemp("data")
