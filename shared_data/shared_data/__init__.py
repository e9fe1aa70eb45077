"""shared_data: the experiment contract every method of the project builds on (framework-free)."""
__version__ = "0.1.0"
