# DFG (dfg_torch/): Fashion-MNIST, protocol dfg, IR 40, split seeds 0-2, LeNet-5 source (MNIST stand-in for EMNIST
# digits unless the EMNIST files are in the data root). `make reproduce-<name>` runs, publishes, reports.
REPRODUCE.dfg-fmnist := dfg_torch --dataset fashion --model dfg --budget full --split-seeds 0,1,2
REPRODUCE.dfg-fmnist-quick := dfg_torch --dataset fashion --model dfg --budget quick --split-seeds 0,1,2
REPRODUCE.dfg-fmnist-original := dfg_torch --dataset fashion --model original --budget full --split-seeds 0,1,2
REPRODUCE.dfg-fmnist-fine-tuning := dfg_torch --dataset fashion --model fine-tuning --budget full --split-seeds 0,1,2
REPRODUCE.dfg-fmnist-delta := dfg_torch --dataset fashion --model delta --budget full --split-seeds 0,1,2
REPRODUCE.dfg-fmnist-original-quick := dfg_torch --dataset fashion --model original --budget quick --split-seeds 0,1,2
REPRODUCE.dfg-fmnist-fine-tuning-quick := dfg_torch --dataset fashion --model fine-tuning --budget quick --split-seeds 0,1,2
REPRODUCE.dfg-fmnist-released-ce := dfg_torch --dataset fashion --model dfg --channel-eval released --budget full --split-seeds 0
REPRODUCE.dfg-fmnist-delta-released-ce := dfg_torch --dataset fashion --model delta --channel-eval released --budget full --split-seeds 0
REPRODUCE.dfg-fmnist-no-regularisers := dfg_torch --dataset fashion --model dfg --alpha-extractor 0 --alpha-classifier 0 --budget full --split-seeds 0
REPRODUCE.dfg-fmnist-delta-quick := dfg_torch --dataset fashion --model delta --budget quick --split-seeds 0,1,2

# ms per DFG iteration and GFLOP/s against the bare critic phase
bench-dfg: ; cd dfg_torch && $(call env_py,dfg_torch) bench.py
