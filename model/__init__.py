"""Reverie's world model: tokenizer, dynamics, flow sampler, runtime, data and training.

Never imports Qt. The player reaches this package only through `model.play.runtime`.
"""
