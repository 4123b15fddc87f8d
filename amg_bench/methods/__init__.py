"""Video-generation methods behind one ``generate()`` interface."""
