"""Analyses behind the mechanism chapters of the book: hard attention's gradient estimator (``reinforce``, chapter 6)
and the doubly stochastic ablation on the synthetic shapes scenes (``shapes_attention``, chapter 7)."""
