"""The metrics' maths on tensors (embeddings, tracks): pure functions, no model, no IO.

``clip_score`` works on CLIP embeddings, ``motion_fidelity`` on point tracks; the classes in
``amg_bench.metrics`` add model loading and tracking around them.
"""
