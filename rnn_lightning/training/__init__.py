"""Training: the LightningModule, the Trainer it runs in, callbacks and checkpoints."""
