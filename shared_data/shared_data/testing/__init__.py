"""Test support for the method suites: ``npgrad``, a float64 NumPy reference (reverse-mode autodiff with double
backprop, both frameworks' convolution conventions) for the reference-step tests. Imports no framework."""
