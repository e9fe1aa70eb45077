"""IMSIC (He, Lin, Yuan, Tzeng, IJCAI 2021) in PyTorch: InfoGAN-style GAN with a structure loss, a
categorical-code -> class map, synthetic images added to an imbalanced set, a small CNN trained on the mix."""
