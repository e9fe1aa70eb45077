"""DFG: Discriminative Feature Generation for classification of imbalanced data (Suh, Lukowicz, Lee, Pattern
Recognition 2022, doi:10.1016/j.patcog.2021.108302), ported from opensuh/DFG@41fa92d (code of fa1218f) to
current PyTorch. The LeNet-5 backbone (SVHN and Fashion-MNIST columns) is built; the VGG-16 and ResNet-50 ones
need ImageNet or CIFAR-10 weights that are not available offline.
"""
