"""Building the avatar-motion dataset: sources, windows, body model, rendering, writing, Hub IO."""
