"""The llama.cpp backend: real llama.cpp command-line tools on the host or a phone."""
