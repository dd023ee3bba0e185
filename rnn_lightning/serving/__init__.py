"""Using a trained model: loading a checkpoint, predicting, and the HTTP API with its page."""
