"""Models: the network (embedding, recurrent layers, head) and its fast CPU recurrences."""
