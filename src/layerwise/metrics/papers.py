"""Citations shared by several metrics (title, year) and their arXiv ids."""

PERI_LN = ("Peri-LN: Revisiting Normalization Layer in the Transformer Architecture (Kim et al., 2025)",
           "2502.02732")
SATURATION = ("Attention Saturation and Gradient Suppression at Inflection Layers (Wang, 2025)",
              "2511.00797")
CURSE_OF_DEPTH = ("The Curse of Depth in Large Language Models (Sun et al., 2025)", "2502.05795")
NAP = ("Normalization and Effective Learning Rates in Reinforcement Learning (Lyle et al., 2024)",
       "2407.01800")
ELU = ("Fast and Accurate Deep Network Learning by Exponential Linear Units (Clevert et al., 2016)",
       "1511.07289")
NOISE_SCALE = ("An Empirical Model of Large-Batch Training (McCandlish et al., 2018)", "1812.06162")
GRADIENT_NOISE = ("Adding Gradient Noise Improves Learning for Very Deep Networks "
                  "(Neelakantan et al., 2015)", "1511.06807")
