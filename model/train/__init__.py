"""Making worlds: engine capture, datasets, training, export and evaluation (torch + vizdoom)."""
