import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long tests, excluded from make test (run with -m slow)")
    # not excluded by `-m "not slow"`: make test (CI) runs them; `-m learning` runs them alone
    config.addinivalue_line("markers", "learning: a short training run that must reach a recorded accuracy band")
