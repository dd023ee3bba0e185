"""Batches of reviews of similar length, shuffled reproducibly per epoch (for ``--mask-padding``)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Yield batches of indices whose reviews have similar lengths.

    With shuffling, the reviews are shuffled, cut into pools of ``pool_batches`` batches, sorted by length
    within each pool and batched, and the batches are shuffled: every epoch sees new batches, each of
    nearly uniform length. Without shuffling, all reviews are simply batched in length order.

    The order depends only on ``seed`` and the epoch, so every DDP rank builds the same list and takes its
    own share (``rank::num_replicas``); all ranks get the same number of batches.

    Args:
        lengths: Length of each review (padding excluded).
        batch_size: Reviews per batch.
        shuffle: Shuffle reviews and batches each epoch.
        seed: Base seed of the shuffling.
        pool_batches: Batches per sorting pool: larger pools give tighter lengths, smaller ones more randomness.
        num_replicas: Processes sharing the data (DDP world size).
        rank: This process's share.
    """

    def __init__(self, lengths: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0, pool_batches: int = 50,
                 num_replicas: int = 1, rank: int = 0) -> None:
        self.lengths = lengths
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool_size = batch_size * pool_batches
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at each epoch start, so that each epoch is shuffled differently."""
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        count = len(self.lengths)
        order = torch.randperm(count, generator=generator) if self.shuffle else torch.arange(count)
        pool_size = self.pool_size if self.shuffle else count
        batches = []
        for start in range(0, count, pool_size):
            pool = order[start:start + pool_size]
            pool = pool[torch.argsort(self.lengths[pool], stable=True)]
            batches += [chunk.tolist() for chunk in pool.split(self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        usable = len(batches) - len(batches) % self.num_replicas
        return iter(batches[self.rank:usable:self.num_replicas])

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size) // self.num_replicas
