# IMSIC (imsic_torch/): included by the top-level Makefile; `make reproduce-<name>` runs run.py with these
# arguments in imsic_torch's environment, publishes each finished run into results/ and regenerates the report.
# --seeds s1,s2,...: one run per seed with split seed = training seed = s (protocol imsic: the original is s = 0;
# protocol dgc: the DGC subsets 1-3). full: 500 GAN epochs per run, GPU work (NOTES.md, "Budgets");
# quick: 8 GAN epochs, under 45 minutes per run on 2 CPU cores; the baseline trains the CNN alone (minutes).
# --gan released: the authors' trained GANs (fudonglin/IMSIC@649abbd models/gan/) in place of the GAN stage, so the
# full budget runs on a CPU (map, synthesis and CNN: minutes). The authors' split is split seed 0; IMSIC_SEED picks
# the training seed there (make reproduce-imsic-mnist-released IMSIC_SEED=3); -splits runs split seeds 1-4
# (training seed = split seed); -baseline is the same CNN on the same split without synthetic images.
IMSIC_SEED ?= 0
REPRODUCE.imsic-mnist-released := imsic_torch --dataset mnist --protocol imsic --budget full --gan released --split-seed 0 --seed $(IMSIC_SEED)
REPRODUCE.imsic-fmnist-released := imsic_torch --dataset fashion --protocol imsic --budget full --gan released --split-seed 0 --seed $(IMSIC_SEED)
REPRODUCE.imsic-mnist-released-baseline := imsic_torch --dataset mnist --protocol imsic --budget full --model baseline --split-seed 0 --seed $(IMSIC_SEED)
REPRODUCE.imsic-fmnist-released-baseline := imsic_torch --dataset fashion --protocol imsic --budget full --model baseline --split-seed 0 --seed $(IMSIC_SEED)
REPRODUCE.imsic-mnist-released-splits := imsic_torch --dataset mnist --protocol imsic --budget full --gan released --seeds 1,2,3,4
REPRODUCE.imsic-fmnist-released-splits := imsic_torch --dataset fashion --protocol imsic --budget full --gan released --seeds 1,2,3,4
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

# ms per GAN iteration at batch 64 and GFLOP/s against the same layers timed alone
bench-imsic: ; cd imsic_torch && $(call env_py,imsic_torch) bench.py
