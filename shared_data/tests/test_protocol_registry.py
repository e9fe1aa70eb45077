"""The protocol registry: one entry per protocol, every split drawn through the entry its name looks up."""
import dataclasses

import numpy as np
import pytest

from shared_data import protocols, readers, registry, splits

COUNTS = [5, 4, 3, 2, 1, 1, 2, 3, 4, 5]


def _fake_dataset(per_class: int = 20, test_per_class: int = 6) -> readers.Dataset:
    """A small 10-class dataset with MNIST's image shape, classes interleaved as in an official file."""
    y_train = np.tile(np.arange(10), per_class).astype(np.int64)
    y_test = np.tile(np.arange(10), test_per_class).astype(np.int64)
    x_train = (np.arange(len(y_train))[:, None, None, None] % 256 * np.ones((1, 28, 28, 1))).astype(np.uint8)
    x_test = (np.arange(len(y_test))[:, None, None, None] % 256 * np.ones((1, 28, 28, 1))).astype(np.uint8)
    return readers.Dataset(registry.MNIST, x_train, y_train, x_test, y_test, sources={})


@pytest.fixture
def fake_data(monkeypatch):
    ds = _fake_dataset()
    monkeypatch.setattr(splits, "load_dataset", lambda *a, **k: ds)
    return ds


def _last_of_each_class(y_train, y_test, counts, seed):
    """A sampler no protocol uses: the last n_c images of each class, newest first."""
    return np.concatenate([np.flatnonzero(y_train == c)[::-1][:n] for c, n in enumerate(counts)])


def _patch(monkeypatch, name, calls):
    def sampler(y_train, y_test, counts, seed):
        calls.append(("sampler", list(counts), seed))
        return _last_of_each_class(y_train, y_test, counts, seed)

    def test_rule(y_train, y_test, counts, seed):
        calls.append(("test_rule", None if counts is None else list(counts), seed))
        return np.arange(len(y_test))[::-2]

    entry = dataclasses.replace(protocols.REGISTRY[name], sampler=sampler, test_rule=test_rule)
    monkeypatch.setitem(protocols.REGISTRY, name, entry)


def test_every_protocol_is_one_registry_entry():
    assert protocols.PROTOCOLS == ("gamo", "dgc", "exp", "step", "imsic", "dfg")
    assert protocols.PROTOCOLS == tuple(protocols.REGISTRY)
    for name in protocols.PROTOCOLS:
        entry = protocols.lookup(name)
        assert isinstance(entry, protocols.Protocol) and entry.name == name
        assert entry is protocols.REGISTRY[name]
    assert protocols.IR_PROTOCOLS == ("exp", "step", "dfg")
    assert protocols.IR_PROTOCOLS == tuple(n for n, p in protocols.REGISTRY.items() if p.takes_ir)
    assert protocols.MINORITY_PROTOCOLS == ("dfg",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        protocols.REGISTRY["dfg"].takes_ir = False


@pytest.mark.parametrize("call", [
    lambda: protocols.lookup("smote"),
    lambda: protocols.resolve_counts(registry.MNIST, "smote"),
    lambda: protocols.split_id("mnist", "smote", 0),
    lambda: protocols.select("smote", np.zeros(3, np.int64), np.zeros(3, np.int64), None, 0),
])
def test_an_unknown_protocol_is_a_split_error_naming_the_known_ones(call):
    with pytest.raises(protocols.SplitError) as info:
        call()
    message = str(info.value)
    assert "unknown protocol 'smote'" in message
    for name in protocols.PROTOCOLS:
        assert name in message


def test_an_unknown_protocol_is_refused_before_any_data_is_read(monkeypatch, tmp_path):
    def no_read(*a, **k):
        raise AssertionError("the dataset was read for an unknown protocol")

    monkeypatch.setattr(splits, "load_dataset", no_read)
    for call in (splits.build_split, splits.get_split):
        with pytest.raises(protocols.SplitError, match="known protocols: gamo, dgc, exp, step, imsic, dfg"):
            call("mnist", "smote", 0, data_root=tmp_path, download=False)


@pytest.mark.parametrize("name", protocols.PROTOCOLS)
def test_build_split_draws_with_the_entry_its_protocol_looks_up(name, fake_data, monkeypatch):
    calls = []
    _patch(monkeypatch, name, calls)
    s = splits.build_split("mnist", name, 3, counts=COUNTS)
    assert calls == [("sampler", COUNTS, 3), ("test_rule", COUNTS, 3)]
    np.testing.assert_array_equal(s.idx_train, _last_of_each_class(fake_data.y_train, None, COUNTS, 3))
    np.testing.assert_array_equal(s.idx_test, np.arange(len(fake_data.y_test))[::-2])
    assert s.train_counts == COUNTS and s.idx_train.dtype == np.int64 and s.idx_test.dtype == np.int64
    # the balanced full training set: no sampler, the entry's test rule
    calls.clear()
    s = splits.build_split("mnist", name, 3, imbalance=0)
    assert calls == [("test_rule", None, 3)]
    np.testing.assert_array_equal(s.idx_train, np.arange(len(fake_data.y_train)))


def test_the_dfg_profile_goes_through_the_same_lookup(fake_data, monkeypatch):
    calls = []
    _patch(monkeypatch, "dfg", calls)
    s = splits.build_split("mnist", "dfg", 0, ir=4, minority=3)
    # its counts come from the entry's profile (n_maj = the largest class, 20; minority int(20 / 4) = 5) ...
    chosen = protocols.dfg_minority_classes(10, 3, 0)
    expected = [5 if c in chosen else 20 for c in range(10)]
    assert calls == [("sampler", expected, 0), ("test_rule", expected, 0)]
    # ... the sampler that draws them is the patched one, not dfg_indices (the first images in file order)
    np.testing.assert_array_equal(s.idx_train, _last_of_each_class(fake_data.y_train, None, expected, 0))
    assert s.manifest["dfg"] == {"ir": 4.0, "minority": 3, "n_maj": 20, "minority_classes": chosen}
    assert s.split_id == "mnist-dfg-ir4-m3-s0"
    assert splits.identity_problems(s.manifest, s.arrays()) == []


def test_explicit_dfg_counts_are_drawn_by_its_sampler_whatever_imbalance_says(fake_data):
    ones = splits.build_split("mnist", "dfg", 0, imbalance=1, counts=COUNTS)
    zero = splits.build_split("mnist", "dfg", 0, imbalance=0, counts=COUNTS)
    assert ones.split_id == zero.split_id  # the id names the counts, not --imbalance: so must the content
    np.testing.assert_array_equal(zero.idx_train, protocols.dfg_indices(fake_data.y_train, COUNTS))
    assert zero.split_hash == ones.split_hash


def test_profiles_and_tags_come_from_the_entries():
    assert protocols.resolve(registry.MNIST, "gamo") == (list(registry.GAMO_PROFILE), None)
    counts, record = protocols.resolve(registry.MNIST, "exp", ir=10)
    assert record is None and counts[0] == 5421 and counts[-1] == 542
    assert protocols.resolve(registry.FASHION, "dfg") == (None, None)  # the labels decide dfg's counts
    y = np.repeat(np.arange(10), 100)
    counts, record = protocols.resolve(registry.MNIST, "dfg", y_train=y, seed=0)  # n_maj: the largest class
    assert record["ir"] == 10.0 and record["minority"] == 8 and record["n_maj"] == 100
    assert sorted(counts) == [10] * 8 + [100] * 2
    assert protocols.REGISTRY["exp"].tag(None, None) == "ir100"
    assert protocols.REGISTRY["dfg"].tag(40, 5) == "ir40-m5" and protocols.REGISTRY["gamo"].tag(None, None) == ""
    assert protocols.REGISTRY["dfg"].identity(registry.SVHN, None, None) == {"ir": 10.0, "minority": 8}
    assert protocols.REGISTRY["gamo"].identity(registry.MNIST, None, None) == {}
