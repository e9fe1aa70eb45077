import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
if not os.environ.get("SHARED_DATA_MIRROR") and (ROOT.parents[1] / "shared" / "data" / "mnist").exists():
    os.environ["SHARED_DATA_MIRROR"] = str(ROOT.parents[1] / "shared" / "data")
