import torch

from rnn_lightning.data.sampling import LengthGroupedBatchSampler


def lengths(count=1000, seed=0):
    return torch.randint(1, 501, (count,), generator=torch.Generator().manual_seed(seed))


def test_every_review_once_per_epoch_in_batches_of_similar_length():
    sizes = lengths()
    sampler = LengthGroupedBatchSampler(sizes, batch_size=32, shuffle=True, pool_batches=10)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(1000)) and len(batches) == len(sampler)
    spread = sum(int(sizes[b].max() - sizes[b].min()) for b in batches) / len(batches)
    random_spread = sum(int(sizes[b].max() - sizes[b].min()) for b in torch.randperm(1000).split(32)) / 32
    assert spread < random_spread / 4


def test_shuffled_differently_each_epoch_but_reproducibly():
    sampler = LengthGroupedBatchSampler(lengths(), batch_size=32, shuffle=True, seed=3)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_without_shuffling_batches_follow_length_order():
    sizes = lengths(100)
    batches = list(LengthGroupedBatchSampler(sizes, batch_size=10, shuffle=False))
    flat = [i for batch in batches for i in batch]
    assert sizes[flat].tolist() == sorted(sizes.tolist())


def test_ranks_get_disjoint_equal_shares():
    sizes = lengths(1000)
    shares = [list(LengthGroupedBatchSampler(sizes, 32, True, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 16
    assert not {i for b in shares[0] for i in b} & {i for b in shares[1] for i in b}
