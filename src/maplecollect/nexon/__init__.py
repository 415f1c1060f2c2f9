"""nexon."""
