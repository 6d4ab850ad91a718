"""An example pocketbench backend: a NumPy reference decoder with random weights."""
