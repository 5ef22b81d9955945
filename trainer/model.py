"""The geometry flow model: a two-stream transformer (mixture of transformers) over
shape tokens (patches of the VAE latent) and one layout token, conditioned on image tokens.

Each stream has its own weights (norms, QKV, output projection, MLP, adaLN modulation); the
streams meet only in a joint self-attention, whose keys/values also include the condition
tokens (projected per block, as in MM-DiT). So shape-only data trains shape without layout
(its layout loss is masked), and layout can be fine-tuned with the shape stream frozen.

Time t follows the time convention (see trainer.flow).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig
from .encoder import build_encoder
from .layout import LAYOUT_DIM
from .vae import OccupancyVAE

STREAMS = ("shape", "layout")


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) in [0, 1] -> (B, dim) sinusoidal features of 1000 t."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def sincos_3d(n: int, dim: int) -> torch.Tensor:
    """(n^3, dim) fixed sin-cos features of the token grid (DiT / TRELLIS), ~dim/3 per axis, zero-padded.

    Each entry is O(1), as large as a token's content: with a 0.02-scale learned table the shape
    tokens of a noisy latent (t near 1) could not tell where they are, and the model never learned
    the global layout of a shape (measured: held-out vIoU below a fixed mean shape).
    """
    per = (dim // 6) * 2                                                   # sin + cos features per axis
    omega = 1.0 / 10000 ** (torch.arange(per // 2, dtype=torch.float64) / (per // 2))
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64)] * 3, indexing="ij")
    feats = [torch.cat([torch.sin(a.reshape(-1, 1) * omega), torch.cos(a.reshape(-1, 1) * omega)], 1) for a in axes]
    out = torch.cat(feats, 1)
    return F.pad(out, (0, dim - out.shape[1])).float()


class StreamBlockParams(nn.Module):
    """The weights one stream owns inside a block."""

    def __init__(self, dim: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.ada = nn.Linear(dim, 6 * dim)   # adaLN-Zero: shift, scale, gate for attention and MLP
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)


class MoTBlock(nn.Module):
    """Joint attention over [shape tokens; layout token; condition tokens (k/v only)], then per-stream MLPs."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.streams = nn.ModuleDict({s: StreamBlockParams(dim, mlp_ratio) for s in STREAMS})
        self.cond_norm = nn.LayerNorm(dim, eps=1e-6)
        self.cond_kv = nn.Linear(dim, 2 * dim)

    def forward(self, xs: dict, c: torch.Tensor, emb: torch.Tensor) -> dict:
        # xs[s]: (B, T_s, D); c: (B, N, D) condition tokens; emb: (B, D) time (+ step) embedding.
        B, _, D = c.shape
        H, hd = self.heads, D // self.heads
        mods, qs, ks, vs = {}, [], [], []
        for s in STREAMS:
            p = self.streams[s]
            mods[s] = p.ada(F.silu(emb))[:, None].chunk(6, dim=-1)           # 6 x (B, 1, D)
            shift, scale = mods[s][0], mods[s][1]
            q, k, v = p.qkv(p.norm1(xs[s]) * (1 + scale) + shift).chunk(3, dim=-1)
            qs.append(q), ks.append(k), vs.append(v)
        ck, cv = self.cond_kv(self.cond_norm(c)).chunk(2, dim=-1)
        lens = [xs[s].shape[1] for s in STREAMS]
        heads = lambda x: x.view(B, -1, H, hd).transpose(1, 2)               # (B, H, T, hd)
        q = heads(torch.cat(qs, 1))
        k = heads(torch.cat(ks + [ck], 1))
        v = heads(torch.cat(vs + [cv], 1))
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, -1, D)
        out = {}
        for s, ys in zip(STREAMS, y.split(lens, dim=1)):
            p, (_, _, g1, shift2, scale2, g2) = self.streams[s], mods[s]
            x = xs[s] + g1 * p.proj(ys)
            out[s] = x + g2 * p.mlp(p.norm2(x) * (1 + scale2) + shift2)
        return out


class FinalLayer(nn.Module):
    """adaLN then a zero-initialised linear map back to the stream's data space."""

    def __init__(self, dim: int, out: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Linear(dim, 2 * dim)
        self.linear = nn.Linear(dim, out)
        for m in (self.ada, self.linear):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x, emb):
        shift, scale = self.ada(F.silu(emb))[:, None].chunk(2, dim=-1)
        return self.linear(self.norm(x) * (1 + scale) + shift)


class FlowModel(nn.Module):
    """v_theta(x_t, c, t, d): velocity of shape latent (B,C,g,g,g) and layout token (B,10).

    `d` is the shortcut step size (0 = plain flow matching); its embedding starts at zero, so a
    model distilled from a flow checkpoint initially behaves exactly like it.
    """

    def __init__(self, cfg: ModelConfig, embed_names: bool = True):
        """embed_names=False: leave the vocabulary's name embeddings (cfg.category_text) at zero, for a caller that
        loads a state dict holding them (load_checkpoint), so loading needs no sentence model."""
        super().__init__()
        self.cfg = cfg
        D, p, C = cfg.dim, cfg.latent_patch, cfg.vae_channels
        self.vae = OccupancyVAE(C, cfg.vae_width)
        self.encoder = build_encoder(cfg)
        self.null_cond = nn.Parameter(torch.zeros(1, 1, D))
        # Context among the condition tokens (cfg.cond_layers) and the auxiliary category head (cfg.categories).
        self.cond_attn = nn.ModuleList([nn.TransformerEncoderLayer(D, cfg.heads, int(cfg.mlp_ratio * D), dropout=0.0,
                                                                   activation="gelu", batch_first=True, norm_first=True)
                                        for _ in range(cfg.cond_layers)])
        if cfg.categories:
            self.category_pool = nn.Linear(D, 1)
            self.category_head = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, len(cfg.categories)))
        if cfg.category_condition and cfg.category_text:
            # The token is a projection of the name's sentence embedding (trainer.category_text), so a name outside
            # the vocabulary has one too; the vocabulary's embeddings travel in the checkpoint.
            from .category_text import TEXT_DIM, name_embeddings
            self.register_buffer("category_text_vocab", name_embeddings(tuple(cfg.categories)).clone() if embed_names
                                 else torch.zeros(len(cfg.categories), TEXT_DIM))
            self.category_proj = nn.Sequential(nn.Linear(TEXT_DIM, D), nn.GELU(), nn.Linear(D, D))
            self.category_unknown = nn.Parameter(torch.randn(1, D) * 0.02)
        elif cfg.category_condition:    # one condition token for the object's category; row K is 'unknown'
            self.category_embed = nn.Embedding(len(cfg.categories) + 1, D)
            nn.init.normal_(self.category_embed.weight, std=0.02)
        self.shape_in = nn.Linear(p ** 3 * C, D)
        self.shape_pos = nn.Parameter(sincos_3d(cfg.latent_grid // p, D)[None])   # (1, T, D), learned from here
        self.layout_in = nn.Linear(LAYOUT_DIM, D)
        self.layout_pos = nn.Parameter(torch.randn(1, 1, D) * 0.02)
        self.t_embed = nn.Sequential(nn.Linear(D, D), nn.SiLU(), nn.Linear(D, D))
        self.d_embed = nn.Sequential(nn.Linear(D, D), nn.SiLU(), nn.Linear(D, D))
        nn.init.zeros_(self.d_embed[-1].weight)
        nn.init.zeros_(self.d_embed[-1].bias)
        self.blocks = nn.ModuleList([MoTBlock(D, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.final = nn.ModuleDict({"shape": FinalLayer(D, p ** 3 * C), "layout": FinalLayer(D, LAYOUT_DIM)})

    # -- condition ---------------------------------------------------------------------
    def encode_condition(self, views: torch.Tensor, drop: torch.Tensor | None = None,
                         category: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 2, 4, S, S) -> (B, N, D); rows with drop=True get the learned null condition.

        With cfg.category_condition the last token is the category's: `category` (B,) indexes cfg.categories
        (-1 = unknown; None = unknown for every row; with cfg.category_text, ids above K = len(categories) are
        names outside the vocabulary, `category_ids`). The condition layers then mix it into the image tokens.
        """
        c = self.encoder(views)
        if self.cfg.category_condition:
            K = len(self.cfg.categories)
            ids = (torch.full((c.shape[0],), K, dtype=torch.long, device=c.device) if category is None
                   else torch.where(category.to(c.device) < 0, K, category.to(c.device)))
            token = self.category_text_token(ids) if self.cfg.category_text else self.category_embed(ids)
            c = torch.cat([c, token[:, None].to(c.dtype)], 1)
        for layer in self.cond_attn:
            c = layer(c)
        if drop is not None:
            c = torch.where(drop[:, None, None], self.null_cond.to(c.dtype).expand_as(c), c)
        return c

    def category_text_token(self, ids: torch.Tensor) -> torch.Tensor:
        """(B,) ids (K = unknown) -> (B, D): the projection of each name's sentence embedding, the learned
        'unknown' token for the rest."""
        from .category_text import extra_embeddings
        K = len(self.cfg.categories)
        table = self.category_text_vocab
        if bool((ids > K).any()):     # names outside the vocabulary, in this process's registry
            extra = extra_embeddings(int(ids.max()) - K).to(table.device, table.dtype)
            table = torch.cat([table, extra])
        known = ids != K
        rows = torch.where(ids > K, ids - 1, torch.where(known, ids, 0))
        return torch.where(known[:, None], self.category_proj(table[rows]), self.category_unknown)

    def category_ids(self, names) -> torch.Tensor | None:
        """Category names (None = none) -> (B,) indices into cfg.categories (-1 = unknown); None for a model
        that does not condition on the category. A name outside the vocabulary is unknown, except to a model
        given the name's embedding (cfg.category_text), for which it is K + 1 + its index in this process's
        registry (trainer.category_text)."""
        if not self.cfg.category_condition:
            return None
        from .category_text import extra_index
        index, K = {c: i for i, c in enumerate(self.cfg.categories)}, len(self.cfg.categories)

        def one(name) -> int:
            if not name:
                return -1
            if name in index:
                return index[name]
            return K + 1 + extra_index(name) if self.cfg.category_text else -1
        return torch.tensor([one(n) for n in names], dtype=torch.long)

    def category_name(self, name) -> str:
        """What the model is told for a category name: the name, or 'unknown' (none, or outside a learned
        vocabulary)."""
        if not name or not self.cfg.category_condition:
            return "unknown"
        return name if self.cfg.category_text or name in self.cfg.categories else "unknown"

    def category_logits(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, N, D) condition tokens -> (B, K) logits over cfg.categories (attention pooling, then linear)."""
        weights = self.category_pool(cond).softmax(1)                        # (B, N, 1)
        return self.category_head((weights * cond).sum(1))

    def null_condition(self, like: torch.Tensor) -> torch.Tensor:
        """The unconditional condition, shaped like `like` (B, N, D)."""
        return self.null_cond.to(like.dtype).expand_as(like)

    # -- shape tokens ------------------------------------------------------------------
    def patchify(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, g, g, g) -> (B, (g/p)^3, p^3 C)."""
        B, C, g, _, _ = z.shape
        p, n = self.cfg.latent_patch, g // self.cfg.latent_patch
        z = z.view(B, C, n, p, n, p, n, p).permute(0, 2, 4, 6, 3, 5, 7, 1)
        return z.reshape(B, n ** 3, p ** 3 * C)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, (g/p)^3, p^3 C) -> (B, C, g, g, g)."""
        B, C, p = x.shape[0], self.cfg.vae_channels, self.cfg.latent_patch
        n = self.cfg.latent_grid // p
        x = x.view(B, n, n, n, p, p, p, C).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return x.reshape(B, C, n * p, n * p, n * p)

    # -- velocity ----------------------------------------------------------------------
    def forward(self, shape: torch.Tensor, layout: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
                d: torch.Tensor | None = None):
        """shape (B,C,g,g,g), layout (B,10), t (B,), cond (B,N,D), d (B,) -> (v_shape, v_layout)."""
        D = self.cfg.dim
        d = torch.zeros_like(t) if d is None else d      # d = 0: plain flow matching
        emb = self.t_embed(timestep_embedding(t, D)) + self.d_embed(timestep_embedding(d, D))
        xs = {"shape": self.shape_in(self.patchify(shape)) + self.shape_pos,
              "layout": self.layout_in(layout)[:, None] + self.layout_pos}
        for block in self.blocks:
            xs = block(xs, cond, emb)
        v_shape = self.unpatchify(self.final["shape"](xs["shape"], emb))
        v_layout = self.final["layout"](xs["layout"], emb)[:, 0]
        return v_shape, v_layout

    def set_trainable(self, layout_only: bool = False, step_embedding: bool = False,
                      category_head: bool = False) -> None:
        """Choose what a stage trains. Always frozen: the VAE (the latent is the flow's data) and a
        pretrained image backbone; the step-size embedding only trains in distillation, the category
        head only under a category loss (a parameter no loss reaches would stall DDP)."""
        self.requires_grad_(not layout_only)
        self.vae.requires_grad_(False)
        self.d_embed.requires_grad_(step_embedding and not layout_only)
        if self.cfg.categories:
            for m in (self.category_pool, self.category_head):
                m.requires_grad_(category_head and not layout_only)
        if hasattr(self.encoder, "backbone"):
            for p in self.encoder.backbone.parameters():
                p.requires_grad_(False)
        if layout_only:
            for p in self.layout_parameters():
                p.requires_grad_(True)

    def layout_parameters(self):
        """Parameters owned by the layout stream (what `freeze_shape` leaves trainable)."""
        yield from self.layout_in.parameters()
        yield self.layout_pos
        for b in self.blocks:
            yield from b.streams["layout"].parameters()
        yield from self.final["layout"].parameters()

    def flops_per_sample(self) -> float:
        """Approximate forward FLOPs of the transformer per sample (2 * MACs of the linear layers + attention)."""
        cfg = self.cfg
        T, N, D = cfg.n_shape_tokens + 1, 2 * (cfg.image_size // 8) ** 2, cfg.dim
        per_block = 2 * T * (3 * D * D + D * D + 2 * cfg.mlp_ratio * D * D) + 2 * N * 2 * D * D
        per_block += 2 * 2 * T * (T + N) * D  # QK^T and AV
        cond = 2 * N * (4 * D * D + 2 * cfg.mlp_ratio * D * D) + 2 * 2 * N * N * D   # a layer over the condition
        return float(cfg.depth * per_block + cfg.cond_layers * cond)
