"""CaLeG's tf.compat.v1 layer and loss helpers stay separate from DGC's, but a helper of the same name takes the
same arguments in the same order with the same defaults (e.g. the cross-entropy's default reduction), so that
code read in one port means the same in the other. Read from the source with ``ast``: no TensorFlow needed."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DGC = ROOT.parent / "dgc_tf" / "dgc"
# The helpers both ports define, per file; a rename on either side shows up here rather than as a silent skip.
SHARED = {"ops.py": {"linear", "conv2d", "deconv2d", "batch_norm"},
          "losses.py": {"cross_entropy", "moment_matching", "_sq_distances"}}


def signatures(path: Path) -> dict:
    """Each top-level function's parameters: (kind, name, default as source text or None), in order."""
    out = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            a = node.args
            positional = a.posonlyargs + a.args
            defaults = [None] * (len(positional) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
            params = [("positional", p.arg, d) for p, d in zip(positional, defaults)]
            params += [("keyword", p.arg, None if d is None else ast.unparse(d)) for p, d in
                       zip(a.kwonlyargs, a.kw_defaults)]
            params += [(kind, v.arg, None) for kind, v in (("*args", a.vararg), ("**kwargs", a.kwarg)) if v]
            out[node.name] = params
    return out


@pytest.mark.parametrize("name", sorted(SHARED))
def test_helpers_of_the_same_name_have_the_same_signature_as_dgcs(name):
    if not (DGC / name).exists():
        pytest.skip(f"no dgc_tf/dgc/{name} beside this folder")
    ours, theirs = signatures(ROOT / "caleg" / name), signatures(DGC / name)
    common = set(ours) & set(theirs)
    assert SHARED[name] <= common, f"{name}: expected in both ports: {sorted(SHARED[name] - common)}"
    differ = {f: (ours[f], theirs[f]) for f in sorted(common) if ours[f] != theirs[f]}
    assert not differ, f"caleg/{name} and dgc/{name} disagree (caleg, dgc): {differ}"


def test_the_signature_reader_sees_order_and_defaults(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def f(labels, logits, reduction='sum'):\n    pass\n")
    b.write_text("def f(logits, labels, reduction='mean'):\n    pass\n")
    assert signatures(a)["f"] == [("positional", "labels", None), ("positional", "logits", None),
                                  ("positional", "reduction", "'sum'")]
    assert signatures(a) != signatures(b)
