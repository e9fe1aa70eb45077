"""Imbalance protocols: which official images a split keeps, and in which order.

Each protocol is a pure function of the official labels, the per-class counts and one split seed, drawn
from a local ``RandomState`` in exactly the call order of the original code, so a seeded split reproduces
the original procedure. Labels and image orientation are the dataset's own.

| name     | training subset                                                         | test set                    |
|----------|-------------------------------------------------------------------------|-----------------------------|
| gamo     | n_c draws with replacement among the first 4000 of class c (file order) | 100/class from first 800    |
| dgc      | permute all, first n_c of each class, concatenate, permute again        | full official test set      |
| exp/step | long-tailed n_c (IR = n_max/n_min); shuffle each class, keep first n_c  | full official test set      |
| imsic    | per class: PyTorch CPU randperm of its positions, re-seeded; first n_c  | full official test set      |
| dfg      | m seeded minority classes keep int(n_maj / IR), the others n_maj; first images in file order | full |

For ``exp`` and ``step``, n_max is the dataset's smallest full training class (every class can then give its
n_c images), and an ``--ir`` that would leave a class with no image is refused.

``imbalance=0`` gives the balanced full training set (file order) with the protocol's test set; explicit
``counts`` are drawn by the protocol's own sampler, whatever ``imbalance`` says.

Each protocol is one :class:`Protocol` entry of :data:`REGISTRY` (its sampler, test rule, profile, identity
fields and flags); ``PROTOCOLS``, ``IR_PROTOCOLS`` and ``MINORITY_PROTOCOLS`` are derived from it. :func:`lookup`
finds an entry by name, and every caller (this module's functions, ``splits``) goes through it rather than
branching on a protocol's name.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import errors

GAMO_MAX_TRAIN_POS = 4000  # maxPTrClass: draws only among the first 4000 occurrences of each class
GAMO_MAX_TEST_POS = 800  # maxPTsClass
GAMO_TEST_PER_CLASS = 100
IMSIC_PROFILE = (4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40)  # IMSIC's train_cnn.py; = GAMO's profile

# DFG (opensuh/DFG, custom_data_loader.py): the majority size is hard-coded per dataset class (Fashion-MNIST 6000,
# SVHN 5000); the other loaders use the largest class. The default minority count is the loaders' own (8).
DFG_N_MAJ = {"fashion": 6000, "svhn": 5000}
DFG_DEFAULT_MINORITY = 8
DFG_DEFAULT_IR = {"fashion": 40.0, "svhn": 10.0, "cinic10": 10.0, "stl10": 1.0}  # the paper's column per dataset
LONG_TAILED_DEFAULT_IR = 100.0  # exp and step without --ir


class SplitError(errors.DataError, ValueError):
    """The requested split cannot be drawn (unknown protocol, impossible counts...)."""


def long_tailed_counts(n_max: int, num_classes: int, ir: float, kind: str) -> list[int]:
    """Per-class counts of the ``exp`` and ``step`` profiles (LDAM-DRW's formula, truncated with ``int``)."""
    if ir < 1:
        raise SplitError(f"imbalance ratio must be >= 1, got {ir}")
    if kind == "exp":
        return [int(n_max * (1.0 / ir) ** (i / (num_classes - 1.0))) for i in range(num_classes)]
    if kind == "step":
        half = num_classes // 2
        return [n_max] * half + [int(n_max / ir)] * (num_classes - half)
    raise SplitError(f"no long-tailed profile {kind!r}")


def resolve_counts(spec, protocol: str, imbalance: int = 1, ir: float | None = None,
                   counts: list[int] | None = None, y_train: np.ndarray | None = None,
                   minority: int | None = None, seed: int = 0) -> list[int] | None:
    """Per-class training counts, or None for the balanced full training set.

    ``dfg`` counts depend on the labels (a class smaller than its quota keeps all its images): without
    ``y_train`` the parameters are only checked and None is returned.
    """
    return resolve(spec, protocol, imbalance, ir, counts, y_train, minority, seed)[0]


def resolve(spec, protocol: str, imbalance: int = 1, ir: float | None = None, counts: list[int] | None = None,
            y_train: np.ndarray | None = None, minority: int | None = None,
            seed: int = 0) -> tuple[list[int] | None, dict | None]:
    """(:func:`resolve_counts`, what the split manifest records of the protocol's own profile under the
    protocol's name, or None): the request checked against the protocol's registry entry."""
    entry = lookup(protocol)
    _refuse_ignored(entry, imbalance, ir, counts, minority)
    if counts is not None:
        return _checked_counts(spec, entry, counts), None
    if imbalance == 0:
        return None, None
    if imbalance != 1:
        raise SplitError(f"--imbalance takes 0 (balanced full set) or 1 (the protocol's profile), got {imbalance}")
    return entry.profile(spec, ir, minority, y_train, seed)


def uses_profile(imbalance: int, counts: list[int] | None) -> bool:
    """Whether a request draws the protocol's own imbalanced profile (not explicit counts, not the balanced set)."""
    return counts is None and imbalance == 1


def _checked_counts(spec, entry: Protocol, counts: list[int]) -> list[int]:
    counts = [int(c) for c in counts]
    if len(counts) != spec.num_classes:
        raise SplitError(f"{spec.name} has {spec.num_classes} classes, got {len(counts)} counts")
    if min(counts) < 1:
        raise SplitError(f"every class needs at least one training image, got counts {counts}")
    if spec.train_class_counts:  # what the protocol can draw from each class (checked again on the labels)
        limit = entry.train_pool
        pools = [min(n, limit) if limit else n for n in spec.train_class_counts]
        over = [c for c, (n, pool) in enumerate(zip(counts, pools)) if n > pool]
        if over:
            c = over[0]
            where = f"among the first {limit} of the class (the {entry.name} protocol's pool)" \
                if limit and pools[c] == limit else "in the class"
            raise SplitError(f"--counts: class {c} asks for {counts[c]} images but only {pools[c]} exist {where} "
                             f"of {spec.name}; pass at most {pools[c]}")
    return counts


def _refuse_ignored(entry: Protocol, imbalance: int, ir, counts, minority) -> None:
    """A parameter the split would not use is refused: it would be recorded, yet the split is the same."""
    if ir is not None:
        if counts is not None:
            raise SplitError(f"--ir {ir:g} is not used with explicit --counts; leave --ir out")
        if imbalance == 0:
            raise SplitError(f"--ir {ir:g} is not used with --imbalance 0 (the balanced full training set); "
                             f"leave --ir out")
        if not entry.takes_ir:
            raise SplitError(f"--ir {ir:g} is not used by the {entry.name} protocol (only {', '.join(IR_PROTOCOLS)} "
                             f"draw by an imbalance ratio); leave --ir out or choose one of those protocols")
    if minority is not None and (not entry.takes_minority or counts is not None or imbalance == 0):
        raise SplitError(f"--minority {minority} is used only by the {' and '.join(MINORITY_PROTOCOLS)} protocol's "
                         f"own profile; leave it out")


def _check_available(y: np.ndarray, counts: list[int], limit: int | None, part: str, replacement: bool) -> None:
    for c, n in enumerate(counts):
        have = int(np.sum(y == c))
        pool = min(have, limit) if limit else have
        if limit and have < limit:
            raise SplitError(f"{part}: class {c} has {have} images, fewer than the protocol's pool of the first "
                             f"{limit}")
        if n > pool:  # with replacement too: a protocol draws at most its pool's size per class
            raise SplitError(f"{part}: class {c} asks for {n} images but only {pool} exist"
                             + (" in the protocol's pool" if replacement else ""))


def gamo_indices(y_train: np.ndarray, y_test: np.ndarray, counts: list[int], seed: int):
    """GAMO's preprocessing (``MNIST_process.py``): with-replacement draws, one generator, train then test."""
    num_classes = len(counts)
    _check_available(y_train, counts, GAMO_MAX_TRAIN_POS, "train", replacement=True)
    _check_available(y_test, [GAMO_TEST_PER_CLASS] * num_classes, GAMO_MAX_TEST_POS, "test", replacement=True)
    rng = np.random.RandomState(seed)
    train = [np.flatnonzero(y_train == c)[rng.randint(0, GAMO_MAX_TRAIN_POS, n)] for c, n in enumerate(counts)]
    test = [np.flatnonzero(y_test == c)[rng.randint(0, GAMO_MAX_TEST_POS, GAMO_TEST_PER_CLASS)]
            for c in range(num_classes)]
    return np.concatenate(train), np.concatenate(test)


def dgc_indices(y_train: np.ndarray, counts: list[int], seed: int) -> np.ndarray:
    """DGC's ``load_data``: permute with seed, first n_c per class in class order, permute again with seed."""
    _check_available(y_train, counts, None, "train", replacement=False)
    p1 = np.random.RandomState(seed).permutation(len(y_train))
    y_shuffled = y_train[p1]
    blocks = [p1[np.flatnonzero(y_shuffled == c)[:n]] for c, n in enumerate(counts)]
    chosen = np.concatenate(blocks)
    p2 = np.random.RandomState(seed).permutation(len(chosen))
    return chosen[p2]


def long_tailed_indices(y_train: np.ndarray, counts: list[int], seed: int) -> np.ndarray:
    """LDAM-DRW's ``gen_imbalanced_data``: one seeded generator, shuffle each class's indices, keep the first n."""
    _check_available(y_train, counts, None, "train", replacement=False)
    rng = np.random.RandomState(seed)
    out = []
    for c, n in enumerate(counts):
        idx = np.flatnonzero(y_train == c)
        rng.shuffle(idx)
        out.append(idx[:n])
    return np.concatenate(out)


def dfg_params(spec, ir: float | None = None, minority: int | None = None) -> tuple[float, int]:
    """The ``dfg`` protocol's (IR, number of minority classes), defaults filled in and checked."""
    ir = float(DFG_DEFAULT_IR.get(spec.name, 10.0) if ir is None else ir)
    m = DFG_DEFAULT_MINORITY if minority is None else int(minority)
    if not ir >= 1:
        raise SplitError(f"dfg: imbalance ratio must be >= 1, got {ir:g}")
    if not 0 <= m <= spec.num_classes:
        raise SplitError(f"dfg: --minority must be between 0 and {spec.num_classes}, got {m}")
    return ir, m


def dfg_minority_classes(num_classes: int, minority: int, seed: int) -> list[int]:
    """The minority classes: the first m of a seeded permutation (the original shuffles the class list unseeded)."""
    return sorted(int(c) for c in np.random.RandomState(seed).permutation(num_classes)[:minority])


def dfg_counts(y_train: np.ndarray, num_classes: int, n_maj: int | None, ir: float, minority: int,
               seed: int) -> tuple[list[int], list[int], int]:
    """(per-class counts, minority classes, n_maj): majority min(N_c, n_maj), minority min(N_c, int(n_maj / ir))."""
    have = np.bincount(y_train, minlength=num_classes)
    n_maj = int(have.max()) if n_maj is None else int(n_maj)
    n_min = int(n_maj / ir)
    chosen = dfg_minority_classes(num_classes, minority, seed)
    if chosen and n_min < 1:
        raise SplitError(f"dfg: IR {ir:g} leaves the minority classes empty (int({n_maj} / {ir:g}) = 0)")
    counts = [int(min(have[c], n_min if c in chosen else n_maj)) for c in range(num_classes)]
    empty = [c for c, n in enumerate(counts) if n < 1]
    if empty:
        raise SplitError(f"dfg: class(es) {empty} would have no training image")
    return counts, chosen, n_maj


def dfg_indices(y_train: np.ndarray, counts: list[int]) -> np.ndarray:
    """The first n_c images of each class in file order, grouped by class (the loaders' per-class lists)."""
    _check_available(y_train, counts, None, "train", replacement=False)
    return np.concatenate([np.flatnonzero(y_train == c)[:n] for c, n in enumerate(counts)])


def torch_cpu_randperm(n: int, seed: int) -> np.ndarray:
    """``torch.manual_seed(seed); torch.randperm(n)`` on the CPU generator, without torch.

    PyTorch's CPU ``randperm`` (ATen ``randperm_cpu``, for n below 2**32 / 20) starts from the identity and, for
    i = 0 .. n-2, swaps position i with position i + (r % (n - i)), where r is the next raw 32-bit output of
    the generator's mt19937. ``torch.manual_seed(s)`` seeds that mt19937 exactly as numpy's legacy
    ``RandomState(s)`` seeds its own (the reference initialisation ``init_genrand``), and ``randint(0, 2**32,
    dtype=uint32)`` on a ``RandomState`` returns those raw outputs unchanged, one per draw. The torch
    environment's tests check this against ``torch.randperm`` itself.
    """
    n, seed = int(n), int(seed)
    if not 0 <= seed < 2 ** 32:
        raise SplitError(f"the imsic protocol needs a split seed in [0, 2**32), got {seed}")
    if n >= (2 ** 32 - 1) // 20:
        raise SplitError(f"randperm emulation covers n < {(2 ** 32 - 1) // 20}, got {n}")
    perm = np.arange(n, dtype=np.int64)
    if n < 2:
        return perm
    raw = np.random.RandomState(seed).randint(0, 2 ** 32, size=n - 1, dtype=np.uint32).astype(np.int64)
    offsets = raw % (n - np.arange(n - 1, dtype=np.int64))
    for i, z in enumerate(offsets.tolist()):
        j = i + z
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def imsic_indices(y_train: np.ndarray, counts: list[int], seed: int) -> np.ndarray:
    """IMSIC's CNN subset on MNIST (``train_cnn.py``): for each class in label order, re-seed torch with the
    seed, ``randperm`` over that class's positions (file order), keep the first n_c; classes concatenated."""
    _check_available(y_train, counts, None, "train", replacement=False)
    out = []
    for c, n in enumerate(counts):
        pos = np.flatnonzero(y_train == c)
        out.append(pos[torch_cpu_randperm(len(pos), seed)[:n]])
    return np.concatenate(out)


# The protocols' own profiles: (spec, ir, minority, y_train, seed) -> (per-class counts, manifest record or None).

def _published_profile(spec, ir, minority, y_train, seed):
    if spec.imbalanced_profile is None:
        raise SplitError(f"{spec.name} has no published imbalanced profile; pass explicit counts")
    return list(spec.imbalanced_profile), None


def _imsic_profile(spec, ir, minority, y_train, seed):
    if spec.imbalanced_profile != IMSIC_PROFILE:
        raise SplitError(f"the imsic protocol is defined for the 4000...40 profile of MNIST and Fashion-MNIST "
                         f"only, not {spec.name}; pass explicit counts")
    return _published_profile(spec, ir, minority, y_train, seed)


def _long_tailed_profile(kind: str):
    def profile(spec, ir, minority, y_train, seed):
        # n_max is the smallest full class of the training file, so every class can give its n_c images without
        # replacement (LDAM-DRW uses 5000, CIFAR-10's class size; MNIST's smallest class, digit 5, has 5421).
        n_max = min(spec.train_class_counts) if spec.train_class_counts else spec.n_train // spec.num_classes
        ir = LONG_TAILED_DEFAULT_IR if ir is None else float(ir)
        counts = long_tailed_counts(n_max, spec.num_classes, ir, kind)
        if min(counts) < 1:
            raise SplitError(f"--ir {ir:g} leaves class {counts.index(min(counts))} of {spec.name} empty "
                             f"(n_max {n_max} / IR < 1 image); the largest --ir for this dataset is {n_max}")
        return counts, None
    return profile


def _dfg_profile(spec, ir, minority, y_train, seed):
    ir, m = dfg_params(spec, ir, minority)
    if y_train is not None:
        counts, chosen, n_maj = dfg_counts(y_train, spec.num_classes, DFG_N_MAJ.get(spec.name), ir, m, seed)
        return counts, {"ir": ir, "minority": m, "n_maj": n_maj, "minority_classes": chosen}
    largest = max(spec.train_class_counts) if spec.train_class_counts else spec.n_train // max(1, spec.num_classes)
    n_maj = DFG_N_MAJ.get(spec.name, largest)
    if m and int(n_maj / ir) < 1:
        raise SplitError(f"dfg: IR {ir:g} leaves the minority classes empty (int({n_maj} / {ir:g}) = 0)")
    return None, None


# Samplers: (y_train, y_test, counts, seed) -> training indices. Test rules: (y_train, y_test, counts or None
# for the balanced full training set, seed) -> test indices.

def _gamo_sampler(y_train, y_test, counts, seed):
    return gamo_indices(y_train, y_test, counts, seed)[0]


def _gamo_test(y_train, y_test, counts, seed):
    """GAMO's test draw follows its training draw on the same generator (one draw per class when balanced)."""
    if counts is None:
        counts = [1] * (int(y_train.max()) + 1)
    return gamo_indices(y_train, y_test, counts, seed)[1]


def _full_test(y_train, y_test, counts, seed):
    return np.arange(len(y_test))


def _no_identity(spec, ir, minority) -> dict:
    return {}


def _dfg_identity(spec, ir, minority) -> dict:
    ir, m = dfg_params(spec, ir, minority)
    return {"ir": ir, "minority": m}


def _no_tag(ir, minority) -> str:
    return ""


def _ir_tag(ir, minority) -> str:
    return f"ir{LONG_TAILED_DEFAULT_IR if ir is None else float(ir):g}"


def _dfg_tag(ir, minority) -> str:
    m = DFG_DEFAULT_MINORITY if minority is None else int(minority)  # -m<m> only for a non-default minority count
    return f"ir{float(ir):g}" + ("" if m == DFG_DEFAULT_MINORITY else f"-m{m}")


@dataclass(frozen=True)
class Protocol:
    """One imbalance protocol: how its split is drawn and what names it.

    - ``sampler(y_train, y_test, counts, seed)``: the training indices for per-class ``counts`` (its own profile's
      or explicit ones);
    - ``test_rule(y_train, y_test, counts, seed)``: the test indices (``counts`` None for the balanced full
      training set);
    - ``profile(spec, ir, minority, y_train, seed)``: its imbalanced profile (``--imbalance 1``, no explicit
      counts) as (per-class counts, what the manifest records under the protocol's name, or None); counts None
      when they depend on labels not given;
    - ``identity(spec, ir, minority)``: the parameters of that profile that are part of the split's identity,
      defaults filled in and checked (the manifest records them; a split folder found on disk must match them);
    - ``tag(ir, minority)``: that profile's part of the split id ("" for none);
    - ``takes_ir`` / ``takes_minority``: whether its profile is set by ``--ir`` / ``--minority`` (others refuse them);
    - ``train_pool``: explicit counts draw among the first ``train_pool`` images of each class (None: all of it).
    """
    name: str
    sampler: Callable[..., np.ndarray]
    test_rule: Callable[..., np.ndarray] = _full_test
    profile: Callable[..., tuple] = _published_profile
    identity: Callable[..., dict] = _no_identity
    tag: Callable[..., str] = _no_tag
    takes_ir: bool = False
    takes_minority: bool = False
    train_pool: int | None = None


REGISTRY: dict[str, Protocol] = {p.name: p for p in (
    Protocol("gamo", _gamo_sampler, test_rule=_gamo_test, train_pool=GAMO_MAX_TRAIN_POS),
    Protocol("dgc", lambda y_train, y_test, counts, seed: dgc_indices(y_train, counts, seed)),
    Protocol("exp", lambda y_train, y_test, counts, seed: long_tailed_indices(y_train, counts, seed),
             profile=_long_tailed_profile("exp"), tag=_ir_tag, takes_ir=True),
    Protocol("step", lambda y_train, y_test, counts, seed: long_tailed_indices(y_train, counts, seed),
             profile=_long_tailed_profile("step"), tag=_ir_tag, takes_ir=True),
    Protocol("imsic", lambda y_train, y_test, counts, seed: imsic_indices(y_train, counts, seed),
             profile=_imsic_profile),
    Protocol("dfg", lambda y_train, y_test, counts, seed: dfg_indices(y_train, counts), profile=_dfg_profile,
             identity=_dfg_identity, tag=_dfg_tag, takes_ir=True, takes_minority=True),
)}

PROTOCOLS = tuple(REGISTRY)
IR_PROTOCOLS = tuple(p.name for p in REGISTRY.values() if p.takes_ir)  # whose profile an imbalance ratio sets
MINORITY_PROTOCOLS = tuple(p.name for p in REGISTRY.values() if p.takes_minority)


def lookup(protocol: str) -> Protocol:
    """The registry entry of a protocol; an unknown name is a :class:`SplitError` naming the known ones."""
    entry = REGISTRY.get(protocol) if isinstance(protocol, str) else None
    if entry is None:
        raise SplitError(f"unknown protocol {protocol!r}; known protocols: {', '.join(REGISTRY)}")
    return entry


def select(protocol: str, y_train: np.ndarray, y_test: np.ndarray, counts: list[int] | None, seed: int):
    """Return (train indices, test indices) into the official files: the protocol's sampler for ``counts``
    (the file order's full training set for None), then its test rule."""
    entry = lookup(protocol)
    train = np.arange(len(y_train)) if counts is None else entry.sampler(y_train, y_test, counts, seed)
    test = entry.test_rule(y_train, y_test, counts, seed)
    return np.asarray(train).astype(np.int64), np.asarray(test).astype(np.int64)


def split_id(dataset: str, protocol: str, seed: int, imbalance: int = 1, ir: float | None = None,
             counts: list[int] | None = None, minority: int | None = None) -> str:
    """A stable, readable name for a split, e.g. ``fashion-gamo-s0``, ``cifar10-exp-ir100-s0``,
    ``fashion-dfg-ir40-s0`` (``fashion-dfg-ir40-m5-s0`` with 5 minority classes)."""
    entry = lookup(protocol)
    parts = [dataset, protocol]
    if counts is not None:
        digest = hashlib.sha256(",".join(map(str, counts)).encode()).hexdigest()[:8]
        parts.append(f"counts{digest}")
    elif imbalance == 0:
        parts.append("balanced")
    else:
        tag = entry.tag(ir, minority)
        if tag:
            parts.append(tag)
    parts.append(f"s{seed}")
    return "-".join(parts)
