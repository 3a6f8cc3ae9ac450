"""Citations shared by the transforms: (title and year, arXiv id)."""

GRADIENT_NOISE = ("Adding Gradient Noise Improves Learning for Very Deep Networks (Neelakantan et al., 2015)",
                  "1511.06807")
DANN = ("Domain-Adversarial Training of Neural Networks (Ganin et al., 2015/JMLR 2016)", "1505.07818")
NAP = ("Normalization and Effective Learning Rates in Reinforcement Learning (Lyle et al., 2024)",
       "2407.01800")
DP_FL_ASR = (
    "Enabling Differentially Private Federated Learning for Speech Recognition: Benchmarks, Adaptive "
    "Optimizers and Gradient Clipping (Apple, 2023)",
    "2310.00098",
)
