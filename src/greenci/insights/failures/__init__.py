"""CI job graphs and failure prediction (GCN, GAT, gradient-boosting baseline) with t-SNE maps.

Modules: :mod:`.history` (run histories as nodes), :mod:`.graph` (typed edges, networkx), :mod:`.features`,
:mod:`.models` (time split, GNNs, baseline, metrics), :mod:`.report` (Markdown + PNGs), :mod:`.synthetic`.
Importing this package loads none of them: PyTorch, PyTorch Geometric, scikit-learn and matplotlib load
only when a model is trained or a figure drawn (``greenci[ml]``).
"""
