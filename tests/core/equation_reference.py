"""Plain re-implementations of the paper's equations, written apart from `slicevlm.vision`.

Every function here works in float64 with loops, broadcast sums and explicit matrices — no call into the
modules under test and no `torch.fft`, `F.interpolate`, `F.cosine_similarity`, `nn.Conv3d` or
`scaled_dot_product_attention` — so that a test comparing a module with its reference fails when the
module computes another equation. Learned weights are read from the module under test and passed in
as plain tensors. Grids are (B, C, D, H, W); token lists are (B, L, C) in raster order (z slowest).
"""

from __future__ import annotations

import math

import torch


def as64(t: torch.Tensor) -> torch.Tensor:
    """A detached float64 copy (complex tensors become complex128)."""
    t = t.detach()
    return t.to(torch.complex128) if t.is_complex() else t.to(torch.float64)


def randomize_(module: torch.nn.Module, seed: int, bias_scale: float = 0.5) -> torch.nn.Module:
    """Redraw every parameter: weights N(0, 1/fan_in), biases N(0, bias_scale²), all distinct."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = bias_scale if name.endswith("bias") else 1.0 / math.sqrt(p[0].numel())
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.dtype) * scale)
    return module


def apply_along(matrix: torch.Tensor, x: torch.Tensor, axis: int) -> torch.Tensor:
    """out[..., k, ...] = Σ_m matrix[k, m]·x[..., m, ...] along `axis` (a plain broadcast sum, no BLAS)."""
    moved = x.movedim(axis, -1).unsqueeze(-2)  # (..., 1, n_in)
    return (moved * matrix).sum(dim=-1).movedim(-1, axis)  # (..., n_out) moved back


# -- slice selection ---------------------------------------------------------------------------------
def slice_similarity(features: torch.Tensor) -> list[float]:
    """Eq. 3–4 for one volume, features (D, N, C).

    f_i = (1/N) Σ_n F_i[n] (eq. 3); S_i = f_i·f_{i+1} / (‖f_i‖‖f_{i+1}‖) for i < D (eq. 4); the last
    slice has no successor and takes S_D = S_{D-1}.
    """
    x = as64(features)
    depth, tokens, _ = x.shape
    descriptors = [sum(x[i, n] for n in range(tokens)) / tokens for i in range(depth)]
    similarity = []
    for i in range(depth - 1):
        a, b = descriptors[i], descriptors[i + 1]
        similarity.append(float(torch.dot(a, b) / (torch.sqrt(torch.dot(a, a)) * torch.sqrt(torch.dot(b, b)))))
    similarity.append(similarity[-1])
    return similarity


def kept_slices(features: torch.Tensor, keep: int) -> list[int]:
    """Eq. 5 for one volume: the `keep` slices with the lowest S, listed in z order.

    Raises:
        ValueError: the keep-th and the next lowest S are equal (as S_{D-1} = S_D can make them), so
            eq. 5 does not say which slice is kept; a test must use other features.
    """
    similarity = slice_similarity(features)
    ranked = sorted(range(len(similarity)), key=lambda i: similarity[i])
    if keep < len(ranked) and similarity[ranked[keep - 1]] == similarity[ranked[keep]]:
        raise ValueError(f"slices {ranked[keep - 1]} and {ranked[keep]} tie at the cut; choose other test features")
    return sorted(ranked[:keep])


def uniform_slices(depth: int, keep: int) -> list[int]:
    """Uniform-sampling ablation: `keep` evenly spaced slices from first to last, rounded."""
    if keep == 1:
        return [0]
    return [round(i * (depth - 1) / (keep - 1)) for i in range(keep)]


# -- the slice grid ----------------------------------------------------------------------------------
def slice_grid(kept: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Kept slice features (B, D̂, N, C) -> grid (B, C, D̂, H', W').

    Patch token n of a slice sits at row y = n // W', column x = n % W' (the row-major order of a
    ViT patch embedding), so grid[b, c, z, y, x] = kept[b, z, y·W' + x, c].
    """
    x = as64(kept)
    batch, depth, _, channels = x.shape
    grid = torch.empty(batch, channels, depth, height, width, dtype=torch.float64)
    for y in range(height):
        for col in range(width):
            grid[:, :, :, y, col] = x[:, :, y * width + col, :].transpose(1, 2)
    return grid


def grid_tokens(grid: torch.Tensor) -> torch.Tensor:
    """(B, C, D, H, W) -> (B, D·H·W, C); token (z·H + y)·W + x holds position (z, y, x)."""
    batch, channels, depth, height, width = grid.shape
    tokens = torch.empty(batch, depth * height * width, channels, dtype=grid.dtype)
    for z in range(depth):
        for y in range(height):
            for x in range(width):
                tokens[:, (z * height + y) * width + x] = grid[:, :, z, y, x]
    return tokens


# -- spatial–frequency fusion ------------------------------------------------------------------------
def pointwise_conv(grid: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A 1×1×1 convolution: out[b, o] = Σ_i W[o, i]·grid[b, i] + bias[o]."""
    w = as64(weight).reshape(weight.shape[0], weight.shape[1])
    return apply_along(w, grid, axis=1) + as64(bias)[None, :, None, None, None]


def conv3x3x3(grid: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Eq. 8: F_spa[b, o, z, y, x] = bias[o] + Σ_{i,a,b,c} W[o, i, a, b, c]·F[b, i, z+a-1, y+b-1, x+c-1], zero outside."""
    w = as64(weight)
    batch, channels, depth, height, width = grid.shape
    padded = torch.zeros(batch, channels, depth + 2, height + 2, width + 2, dtype=torch.float64)
    padded[:, :, 1:-1, 1:-1, 1:-1] = grid
    out = as64(bias)[None, :, None, None, None].expand(batch, -1, depth, height, width).clone()
    for a in range(3):
        for b in range(3):
            for c in range(3):
                window = padded[:, :, a : a + depth, b : b + height, c : c + width]
                out += apply_along(w[:, :, a, b, c], window, axis=1)
    return out


def dft_matrix(n: int, inverse: bool = False) -> torch.Tensor:
    """The orthonormal DFT matrix M[k, m] = exp(∓2πi·k·m/n)/√n (minus sign forward, plus inverse)."""
    k = torch.arange(n, dtype=torch.float64)
    sign = 1.0 if inverse else -1.0
    return torch.exp(sign * 2j * math.pi * torch.outer(k, k) / n) / math.sqrt(n)


def dft3(grid: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Orthonormal 3D DFT over the last three axes (D, H, W) of a (B, C, D, H, W) grid."""
    out = grid.to(torch.complex128)
    for axis in (2, 3, 4):
        out = apply_along(dft_matrix(out.shape[axis], inverse), out, axis)
    return out


def frequency_path(grid: torch.Tensor, real_conv: torch.nn.Conv3d, imag_conv: torch.nn.Conv3d) -> torch.Tensor:
    """Eq. 9–11: Z = DFT₃(F) (orthonormal); Z' = W_re·Re Z + i·W_im·Im Z; F_freq = Re DFT₃⁻¹(Z')."""
    spectrum = dft3(grid)  # eq. 9
    real = pointwise_conv(spectrum.real, real_conv.weight, real_conv.bias)  # eq. 10
    imag = pointwise_conv(spectrum.imag, imag_conv.weight, imag_conv.bias)
    return dft3(torch.complex(real, imag), inverse=True).real  # eq. 11


def fusion(grid: torch.Tensor, module: torch.nn.Module) -> torch.Tensor:
    """Eq. 8–13 with the weights of a `SpatialFrequencyFusion` (mode "both").

    α = σ(W_g [F_spa; F_freq] + b_g) with the first C input channels of W_g reading F_spa (eq. 12);
    F_SF = α·F_spa + (1 − α)·F_freq (eq. 13).
    """
    x = as64(grid)
    channels = x.shape[1]
    spatial = conv3x3x3(x, module.spatial.weight, module.spatial.bias)  # eq. 8
    frequency = frequency_path(x, module.frequency.real_conv, module.frequency.imag_conv)  # eq. 9–11
    w = module.gate.weight
    logits = pointwise_conv(spatial, w[:, :channels], module.gate.bias) + pointwise_conv(
        frequency, w[:, channels:], torch.zeros(channels)
    )
    alpha = 1.0 / (1.0 + torch.exp(-logits))  # eq. 12
    return alpha * spatial + (1.0 - alpha) * frequency  # eq. 13


# -- feature injection -------------------------------------------------------------------------------
def linear_resize_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """(size_out, size_in) weights of 1D linear resampling with half-pixel centres.

    Output sample i sits at input coordinate (i + ½)·size_in/size_out − ½ (clamped at 0) and mixes its
    two neighbouring input samples linearly; for size_in = 2·size_out this is the mean of a pair.
    """
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    for i in range(size_out):
        source = max((i + 0.5) * size_in / size_out - 0.5, 0.0)
        left = min(int(math.floor(source)), size_in - 1)
        right = min(left + 1, size_in - 1)
        weight = source - left
        matrix[i, left] += 1.0 - weight
        matrix[i, right] += weight
    return matrix


def trilinear_downsample(grid: torch.Tensor, factor: int) -> torch.Tensor:
    """Eq. 14: F_low = trilinear resampling of F_high to ⌊D/s⌋ × ⌊H/s⌋ × ⌊W/s⌋ (at least 1 per axis)."""
    out = as64(grid)
    for axis in (2, 3, 4):
        out = apply_along(linear_resize_matrix(out.shape[axis], max(1, out.shape[axis] // factor)), out, axis)
    return out


def attention(queries: torch.Tensor, keys: torch.Tensor, injection: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 15–18 for one set of queries: (Lq, C) low-res tokens, (Lk, C) high-res tokens.

    Q = W_Q F_low, K = W_K F_high, V = W_V F_high (eq. 16, each a C→C linear with bias);
    A = softmax(QKᵀ/√C)·V (eq. 18; K and V over all positions, eq. 17). With h heads, head j uses channels [j·C/h, (j+1)·C/h) and the
    scale 1/√(C/h); the heads' outputs are concatenated in that order.

    Returns:
        A (Lq, C) and the attention weights (heads, Lq, Lk).
    """
    def linear(x: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
        return x @ as64(layer.weight).T + as64(layer.bias)

    q, k, v = linear(queries, injection.query), linear(keys, injection.key), linear(keys, injection.value)
    channels = q.shape[-1]
    heads = injection.heads
    width = channels // heads
    outputs, weights = [], []
    for j in range(heads):
        part = slice(j * width, (j + 1) * width)
        scores = q[:, part] @ k[:, part].T / math.sqrt(width)  # eq. 18
        scores = torch.exp(scores - scores.max(dim=1, keepdim=True).values)
        probabilities = scores / scores.sum(dim=1, keepdim=True)
        outputs.append(probabilities @ v[:, part])  # eq. 18
        weights.append(probabilities)
    return torch.cat(outputs, dim=1), torch.stack(weights)


def injection(grid: torch.Tensor, module: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eqs. 15–18 with the weights and settings of a `FeatureInjection`; no residual (eq. 19's MLP is the projector).

    Global region: every low-res query attends to all D·H·W high-res positions. Local region: the
    query at low position (z, y, x) attends only to the s³ high-res positions (s·z + a, s·y + b, s·x + c),
    a, b, c ∈ [0, s). Region "none": the tokens are F_low itself.

    Returns:
        Tokens (B, M', C) in raster order and attention (B, heads, M', keys), or None for "none".
    """
    s = module.factor
    high = as64(grid)
    low = trilinear_downsample(high, s)  # eq. 15
    low_tokens = grid_tokens(low)  # (B, M', C)
    if module.region == "none":
        return low_tokens, None
    high_tokens = grid_tokens(high)  # (B, P, C)
    tokens, weights = [], []
    for b in range(high.shape[0]):
        if module.region == "global":
            out, w = attention(low_tokens[b], high_tokens[b], module)
        else:
            _, depth, height, width = low.shape[1:]
            rows_out, rows_w = [], []
            for z in range(depth):
                for y in range(height):
                    for x in range(width):
                        children = high[b, :, s * z : s * z + s, s * y : s * y + s, s * x : s * x + s]
                        row = low_tokens[b, (z * height + y) * width + x][None]
                        out_row, w_row = attention(row, children.reshape(children.shape[0], -1).T, module)
                        rows_out.append(out_row)
                        rows_w.append(w_row)
            out, w = torch.cat(rows_out), torch.cat(rows_w, dim=1)
        tokens.append(out)
        weights.append(w)
    return torch.stack(tokens), torch.stack(weights)


# -- projector ---------------------------------------------------------------------------------------
def projector(tokens: torch.Tensor, first: torch.nn.Linear, second: torch.nn.Linear) -> torch.Tensor:
    """Eq. 19–21: H = W₂·GELU(W₁·A + b₁) + b₂ per token, GELU(u) = u·Φ(u) = ½u(1 + erf(u/√2))."""
    hidden = as64(tokens) @ as64(first.weight).T + as64(first.bias)
    hidden = 0.5 * hidden * (1.0 + torch.erf(hidden / math.sqrt(2.0)))
    return hidden @ as64(second.weight).T + as64(second.bias)
