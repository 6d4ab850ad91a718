"""The ExecuTorch backend: export_llama models run by ExecuTorch's LLM runner.

See :mod:`.plugin` for the hooks; heavy work lives in child processes
(:mod:`.synth`, :mod:`.inspect_pte`, :mod:`.runner`).
"""
