"""Typed dataset registry: one entry per dataset, with its canonical files and their checksums.

Facts come from the dataset owners' distributions (md5s as torchvision checks them; sha256 where the
project's offline mirror publishes them). Datasets marked ``loadable=False`` are declared with what is known
so that configs can name them; asking for their data gives a clear error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import errors

# Per-class training counts of the imbalanced profiles (label 0..C-1) (shared_data/README.md, protocols).
GAMO_PROFILE = (4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40)  # MNIST, Fashion-MNIST; IR 100
SVHN_PROFILE = (4500, 2000, 1000, 800, 600, 500, 400, 250, 150, 80)  # SVHN, CIFAR-10; IR 56.25
CELEBA_PROFILE = (15000, 1500, 750, 300, 150)  # DGC's five hair colours; IR 100


@dataclass(frozen=True)
class FileSpec:
    """One canonical file as its owners distribute it."""

    name: str  # file name, also the name looked up in data roots and mirrors
    folder: str  # sub-folder under a data root or mirror, e.g. "mnist"
    urls: tuple[str, ...]
    md5: str
    sha256: str | None = None
    size: int | None = None

    @property
    def relpath(self) -> str:
        return f"{self.folder}/{self.name}"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]  # H, W, C
    n_train: int
    n_test: int
    files: dict[str, FileSpec]  # role -> file
    reader: str  # name of the reader in shared_data.readers
    imbalanced_profile: tuple[int, ...] | None = None
    loadable: bool = True
    # Images per class in the official training file (label order): bounds what a split can draw.
    train_class_counts: tuple[int, ...] | None = None
    aliases: tuple[str, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


_MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def _idx_files(folder: str, bases: tuple[str, ...], sums: dict[str, tuple[str, str, int]]) -> dict[str, FileSpec]:
    roles = {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    out = {}
    for role, name in roles.items():
        md5, sha, size = sums[name]
        out[role] = FileSpec(name, folder, tuple(b + name for b in bases), md5, sha, size)
    return out


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    classes=tuple(str(d) for d in range(10)),
    image_shape=(28, 28, 1),
    n_train=60000,
    train_class_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    n_test=10000,
    reader="idx",
    imbalanced_profile=GAMO_PROFILE,
    files=_idx_files("mnist", _MNIST_URLS, {
        "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                       "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432",
                                       "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3",
                                      "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c",
                                      "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    }),
)

FASHION = DatasetSpec(
    name="fashion",
    title="Fashion-MNIST",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"),
    image_shape=(28, 28, 1),
    n_train=60000,
    train_class_counts=(6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000),
    n_test=10000,
    reader="idx",
    imbalanced_profile=GAMO_PROFILE,
    aliases=("fmnist", "fashion-mnist", "fashion_mnist"),
    files=_idx_files("fashion-mnist", _FASHION_URLS, {
        "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                       "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
        "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe",
                                       "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79",
                                      "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310",
                                      "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    }),
)

SVHN = DatasetSpec(
    name="svhn",
    title="SVHN (cropped digits)",
    classes=tuple(str(d) for d in range(10)),
    image_shape=(32, 32, 3),
    n_train=73257,
    train_class_counts=(4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659),
    n_test=26032,
    reader="svhn_mat",
    imbalanced_profile=SVHN_PROFILE,
    notes="Label 10 in the .mat files means digit 0; the reader maps it to 0. 'extra' is not used.",
    files={
        "train": FileSpec("train_32x32.mat", "svhn", ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",),
                          "e26dedcc434d2e4c54c9b2d4a06d8373"),
        "test": FileSpec("test_32x32.mat", "svhn", ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",),
                         "eb5a983be6a315427106f1b164d9cef3"),
    },
)

CIFAR10 = DatasetSpec(
    name="cifar10",
    title="CIFAR-10",
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    image_shape=(32, 32, 3),
    n_train=50000,
    train_class_counts=(5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000),
    n_test=10000,
    reader="cifar10",
    imbalanced_profile=SVHN_PROFILE,
    aliases=("cifar-10",),
    files={
        "archive": FileSpec("cifar-10-python.tar.gz", "cifar10",
                            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                            "c58f30108f718f92721af3b95e74349a", size=170498071),
    },
    extra={"batch_md5": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    }},
)

# EMNIST Digits (Cohen et al. 2017): the 10-class split DFG's LeNet-5 source most likely used. One archive holds
# every split; the md5 is the one torchvision's EMNIST class checks. The reader takes the digits split and turns
# the images upright (the files store each image transposed relative to MNIST).
EMNIST = DatasetSpec(
    name="emnist",
    title="EMNIST Digits",
    classes=tuple(str(d) for d in range(10)),
    image_shape=(28, 28, 1),
    n_train=240000,
    n_test=40000,
    reader="emnist_digits",
    aliases=("emnist-digits", "emnist_digits"),
    notes="Only the Digits split is read; images are transposed to MNIST's orientation.",
    files={"archive": FileSpec("gzip.zip", "emnist", ("https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",),
                               "58c8d27c78d21e728a6bc7b3cc06412e")},
)
# STL-10's binary release: 5,000 labelled training and 8,000 test images of 96x96 (the unlabelled part is unused).
STL10 = DatasetSpec(
    name="stl10",
    title="STL-10",
    classes=("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"),
    image_shape=(96, 96, 3),
    n_train=5000,
    n_test=8000,
    reader="stl10",
    aliases=("stl-10", "stl"),
    files={"archive": FileSpec("stl10_binary.tar.gz", "stl10",
                               ("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",),
                               "91f7769df0f17e558f3565bffb0c7dfb")},
)
# CINIC-10 is distributed as PNG folders (train/valid/test, 9,000 per class each). No checksum of the archive is
# published, so the registry cannot verify it: readers.read_image_folder reads an extracted copy in sorted order.
CINIC10 = DatasetSpec("cinic10", "CINIC-10", CIFAR10.classes, (32, 32, 3), 90000, 90000, {}, reader="image_folder",
                      loadable=False, aliases=("cinic-10", "cinic"),
                      notes="read an extracted copy with shared_data.readers.read_image_folder(<root>/train); "
                            "archive https://datashare.ed.ac.uk/handle/10283/3192 (no published checksum)")
CELEBA = DatasetSpec("celeba", "CelebA (hair colour, 64x64)",
                     ("Blond_Hair", "Black_Hair", "Bald", "Brown_Hair", "Gray_Hair"), (64, 64, 3), 0, 0, {},
                     reader="", loadable=False, imbalanced_profile=CELEBA_PROFILE,
                     notes="DGC's five hair attributes, direct resize to 64x64; the 1.4 GB archive is not "
                           "mirrored and its preprocessing is not part of shared_data yet.")

DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (MNIST, FASHION, SVHN, CIFAR10, EMNIST, STL10, CINIC10,
                                                       CELEBA)}
_ALIASES = {alias: d.name for d in DATASETS.values() for alias in d.aliases}


class UnknownDatasetError(errors.DataError, ValueError):
    """A dataset name the registry does not know."""


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        known = ", ".join(sorted(DATASETS))
        raise UnknownDatasetError(f"unknown dataset {name!r}; known datasets: {known}")
    return key


def get(name: str) -> DatasetSpec:
    return DATASETS[canonical_name(name)]
