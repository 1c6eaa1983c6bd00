"""Numerical building blocks with their own tests: K-means, sliding windows, AlignCLIP alignment, graphs."""
