# IMSIC (imsic_torch/): included by the top-level Makefile; `make reproduce-<name>` runs run.py with these
# arguments in imsic_torch's environment, publishes each finished run into results/ and regenerates the report.
# --seeds s1,s2,...: one run per seed with split seed = training seed = s (protocol imsic: the original is s = 0;
# protocol dgc: the DGC subsets 1-3). full: 500 GAN epochs per run, GPU work (README, "Budgets");
# quick: 8 GAN epochs, under 45 minutes per run on 2 CPU cores; the baseline trains the CNN alone (minutes).
REPRODUCE.imsic-mnist := imsic_torch --dataset mnist --protocol imsic --budget full --seeds 0
REPRODUCE.imsic-fmnist := imsic_torch --dataset fashion --protocol imsic --budget full --seeds 0
REPRODUCE.imsic-mnist-quick := imsic_torch --dataset mnist --protocol imsic --budget quick --seeds 0,1,2
REPRODUCE.imsic-fmnist-quick := imsic_torch --dataset fashion --protocol imsic --budget quick --seeds 0,1,2
REPRODUCE.imsic-mnist-dgc-quick := imsic_torch --dataset mnist --protocol dgc --budget quick --seeds 1,2,3
REPRODUCE.imsic-fmnist-dgc-quick := imsic_torch --dataset fashion --protocol dgc --budget quick --seeds 1,2,3
REPRODUCE.imsic-mnist-baseline-quick := imsic_torch --dataset mnist --protocol imsic --budget quick --model baseline --seeds 0,1,2
REPRODUCE.imsic-fmnist-baseline-quick := imsic_torch --dataset fashion --protocol imsic --budget quick --model baseline --seeds 0,1,2
REPRODUCE.imsic-mnist-dgc-baseline-quick := imsic_torch --dataset mnist --protocol dgc --budget quick --model baseline --seeds 1,2,3
REPRODUCE.imsic-fmnist-dgc-baseline-quick := imsic_torch --dataset fashion --protocol dgc --budget quick --model baseline --seeds 1,2,3

bench-imsic: ; cd imsic_torch && $(call env_py,imsic_torch) bench.py
