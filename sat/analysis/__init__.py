"""Analyses behind the book's chapters, one module per question: e.g. ``reinforce`` (hard attention's gradient
estimator, chapter 6) and ``shapes_attention`` (the doubly stochastic ablation on the synthetic scenes, chapter 7).
Notebooks import these; they hold no model code of their own."""
