"""The torch networks: tokenizer, dynamics, flow, their checkpoints and the PyTorch backend."""
