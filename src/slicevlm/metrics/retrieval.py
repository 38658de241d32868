"""Image–text retrieval recall, R@k, both directions (as CLIP-style papers report it, e.g. DCFormer, Med3DVLM).

Row i of the image embeddings and row i of the text embeddings are a pair. Image → text R@k is the
fraction of images whose own text is among the k texts most similar to them (cosine similarity);
text → image the same with the roles swapped. Ties rank the true pair last (no credit for a tie).
Reported ×100 by the callers that log them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def recall_at_k(similarity: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """R@k of each row's own column (the diagonal) for a square (n, n) similarity matrix, in [0, 1].

    Args:
        similarity: scores of query i against candidate j; the true candidate of query i is j = i.
        ks: the cut-offs; a k at or above n gives 1.0.
    """
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"similarity must be a square (n, n) matrix of paired rows, got shape {tuple(similarity.shape)}.")
    scores = similarity.float()
    own = scores.diagonal()[:, None]  # (n, 1)
    rank = (scores >= own).sum(dim=1) - 1  # candidates scoring at least as high as the true one, itself excluded
    return {k: float((rank < k).float().mean()) for k in ks}


def retrieval_recalls(image: torch.Tensor, text: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """`i2t_r{k}` and `t2i_r{k}` in [0, 1] for paired (n, C) image and text embeddings (cosine similarity)."""
    if image.shape != text.shape:
        raise ValueError(f"image and text embeddings must be paired rows of one width: {tuple(image.shape)} vs {tuple(text.shape)}.")
    image = torch.nn.functional.normalize(image.float(), dim=-1)
    text = torch.nn.functional.normalize(text.float(), dim=-1)
    similarity = image @ text.T  # (n images, n texts)
    recalls = {f"i2t_r{k}": value for k, value in recall_at_k(similarity, ks).items()}
    recalls.update({f"t2i_r{k}": value for k, value in recall_at_k(similarity.T, ks).items()})
    return recalls
