"""PyTorch twins of the benchmark models (bench/README.md lists them with their specs).

Each twin computes what its Hourglass spec computes: the same layers and sizes, the same loss,
and the same parameter layout, under the spec's parameter names with dots as underscores
(`encoder.mu.w` is `encoder_mu_w`). Linear weights are [in, out] as in Hourglass
(`y = x @ w + b`); convolution weights are laid out as PyTorch's (conv2d [out, in, k, k],
conv_transpose2d [in, out, k, k]), which is also Hourglass's layout.

Where PyTorch has a library function for exactly the spec's math it is used, as a PyTorch user
would write it: `F.binary_cross_entropy_with_logits` for `bce_with_logits`, `F.layer_norm`,
`F.gelu` (exact erf form, as Hourglass's `gelu`), `torch.softmax`, `F.conv2d` with its bias.
Metrics (`metric ...` lines) are not computed: they are cheap reductions of values the loss
already needs. Initial values follow the spec's initializers; the benchmark measures speed,
so they need not be Hourglass's values.

Every twin has `loss(x)` (the training loss, with the random draws of training: the Gaussian's
noise, the MAE's masking), `encode(x)`, `decode(latents)` and `reconstruct(x)` (deterministic,
as Hourglass's `reconstruct` entry). `x` is [B, 784] or [B, 1, 28, 28] (`IMAGE_SHAPE`).
"""
import math

import torch
import torch.nn.functional as F


class Twin(torch.nn.Module):
    """Parameters under Hourglass's names, each made by the spec's initializer."""

    def param(self, name, shape, init):
        if init == "zeros":
            t = torch.zeros(shape)
        elif init == "ones":
            t = torch.ones(shape)
        elif init == "glorot_uniform":
            fan_in, fan_out = shape[0], shape[-1]
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            t = torch.empty(shape).uniform_(-bound, bound)
        elif init == "he_normal":
            fan_in = shape[1] * math.prod(shape[2:])
            t = torch.randn(shape) * math.sqrt(2.0 / fan_in)
        elif init[0] == "normal":
            t = torch.randn(shape) * init[1]
        elif init[0] == "uniform":
            t = torch.empty(shape).uniform_(init[1], init[2])
        else:
            raise ValueError(init)
        self.register_parameter(name.replace(".", "_"), torch.nn.Parameter(t))

    def p(self, name):
        return getattr(self, name.replace(".", "_"))

    def linear(self, name, i, o):
        self.param(f"{name}.w", (i, o), "glorot_uniform")
        self.param(f"{name}.b", (o,), "zeros")

    def lin(self, x, name):
        return x @ self.p(f"{name}.w") + self.p(f"{name}.b")

    def mlp(self, name, sizes):
        """std.nn.Mlp's parameters: `name.0`, `name.1`, ... (one per layer, as nn.Sequential)."""
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            self.linear(f"{name}.{i}", a, b)

    def run_mlp(self, x, name, layers, act, last):
        for i in range(layers):
            x = self.lin(x, f"{name}.{i}")
            x = act(x) if i < layers - 1 else last(x)
        return x

    def conv(self, name, cin, cout, k):
        self.param(f"{name}.w", (cout, cin, k, k), "he_normal")
        self.param(f"{name}.b", (cout,), "zeros")

    def conv_t(self, name, cin, cout, k):
        self.param(f"{name}.w", (cin, cout, k, k), "he_normal")
        self.param(f"{name}.b", (cout,), "zeros")

    def reconstruct(self, x):
        latents = self.encode(x)
        return self.decode(*latents) if isinstance(latents, tuple) else self.decode(latents)


def bce_with_logits(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def kl_std_normal(mu, logvar):
    return -0.5 * (1.0 + logvar - mu * mu - torch.exp(logvar)).sum(dim=-1)


def identity(x):
    return x


def cosine_schedule(opt, warmup, total):
    """Hourglass's `cosine(warmup)`: base * (step + 1) / warmup while warming up, then half a
    cosine from base to 0 at step `total`."""

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = min(max((step - warmup) / max(1, total - warmup), 0.0), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


class Vae(Twin):
    """examples/vae/vae.hgl: 784-512-256 relu, mu/logvar heads of 32, decoder 32-256-512-784."""

    IMAGE_SHAPE = False

    def __init__(self, latent=32, hidden=512):
        super().__init__()
        self.mlp("encoder.h", [784, hidden, 256])
        self.linear("encoder.mu", 256, latent)
        self.linear("encoder.logvar", 256, latent)
        self.mlp("decoder.logits", [latent, 256, hidden, 784])

    def heads(self, x):
        h = self.run_mlp(x, "encoder.h", 2, torch.relu, torch.relu)
        return self.lin(h, "encoder.mu"), self.lin(h, "encoder.logvar")

    def logits(self, z):
        return self.run_mlp(z, "decoder.logits", 3, torch.relu, identity)

    def encode(self, x):
        return self.heads(x)[0]

    def decode(self, z):
        return torch.sigmoid(self.logits(z))

    def loss(self, x):
        mu, logvar = self.heads(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return (bce_with_logits(self.logits(z), x).sum(dim=-1) + kl_std_normal(mu, logvar)).mean()


class Cvae(Twin):
    """examples/cvae/cvae.hgl: the VAE with the one-hot label beside the image (encoder) and
    beside the latent (decoder); latent 16."""

    IMAGE_SHAPE = False

    def __init__(self, latent=16, hidden=512, classes=10):
        super().__init__()
        self.classes = classes
        self.mlp("encoder.h", [784 + classes, hidden, 256])
        self.linear("encoder.mu", 256, latent)
        self.linear("encoder.logvar", 256, latent)
        self.mlp("decoder.logits", [latent + classes, 256, hidden, 784])

    def heads(self, x, label):
        y = F.one_hot(label, self.classes).to(x.dtype)
        h = self.run_mlp(torch.cat([x, y], dim=-1), "encoder.h", 2, torch.relu, torch.relu)
        return self.lin(h, "encoder.mu"), self.lin(h, "encoder.logvar")

    def logits(self, z, label):
        y = F.one_hot(label, self.classes).to(z.dtype)
        return self.run_mlp(torch.cat([z, y], dim=-1), "decoder.logits", 3, torch.relu, identity)

    def loss(self, x, label):
        mu, logvar = self.heads(x, label)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return (bce_with_logits(self.logits(z, label), x).sum(dim=-1) + kl_std_normal(mu, logvar)).mean()


def kl_normal(mu1, logvar1, mu2, logvar2):
    return 0.5 * (logvar2 - logvar1 + (torch.exp(logvar1) + (mu1 - mu2) ** 2) / torch.exp(logvar2) - 1.0).sum(dim=-1)


class Hvae(Twin):
    """examples/hvae/hvae.hgl: two Gaussian levels, z2 (16) under N(0, I) and z1 (32) under the
    top-down prior p(z1 | z2); the posterior of z1 reads the encoder's h1 and the prior's
    hidden layer; the decoder reads both latents."""

    IMAGE_SHAPE = False

    def __init__(self, z1_dim=32, z2_dim=16, hidden=512):
        super().__init__()
        self.mlp("encoder.h1", [784, hidden, 256])
        self.mlp("encoder.h2", [256, 128])
        self.linear("encoder.mu2", 128, z2_dim)
        self.linear("encoder.logvar2", 128, z2_dim)
        self.mlp("bottleneck.t", [z2_dim, 128])
        self.linear("bottleneck.p_mu", 128, z1_dim)
        self.linear("bottleneck.p_logvar", 128, z1_dim)
        self.mlp("bottleneck.q", [256 + 128, 256])
        self.linear("bottleneck.q_mu", 256, z1_dim)
        self.linear("bottleneck.q_logvar", 256, z1_dim)
        self.mlp("decoder.logits", [z1_dim + z2_dim, 256, hidden, 784])

    def top_down(self, z2):
        t = self.run_mlp(z2, "bottleneck.t", 1, torch.relu, torch.relu)
        return t, self.lin(t, "bottleneck.p_mu"), self.lin(t, "bottleneck.p_logvar")

    def logits(self, z1, z2):
        return self.run_mlp(torch.cat([z1, z2], dim=-1), "decoder.logits", 3, torch.relu, identity)

    def decode(self, z1, z2):
        return torch.sigmoid(self.logits(z1, z2))

    def loss(self, x):
        h1 = self.run_mlp(x, "encoder.h1", 2, torch.relu, torch.relu)
        h2 = self.run_mlp(h1, "encoder.h2", 1, torch.relu, torch.relu)
        mu2, logvar2 = self.lin(h2, "encoder.mu2"), self.lin(h2, "encoder.logvar2")
        z2 = mu2 + torch.exp(0.5 * logvar2) * torch.randn_like(mu2)
        t, p_mu, p_logvar = self.top_down(z2)
        q = self.run_mlp(torch.cat([h1, t], dim=-1), "bottleneck.q", 1, torch.relu, torch.relu)
        q_mu, q_logvar = self.lin(q, "bottleneck.q_mu"), self.lin(q, "bottleneck.q_logvar")
        z1 = q_mu + torch.exp(0.5 * q_logvar) * torch.randn_like(q_mu)
        kl = kl_std_normal(mu2, logvar2) + kl_normal(q_mu, q_logvar, p_mu, p_logvar)
        return (bce_with_logits(self.logits(z1, z2), x).sum(dim=-1) + kl).mean()


class MlpAe(Twin):
    """An Mlp encoder to `code` values and an Mlp decoder back to 784 logits (the shape of
    examples/binary, fsq and gumbel); subclasses choose the bottleneck."""

    IMAGE_SHAPE = False

    def __init__(self, enc, dec, code, latent):
        super().__init__()
        self.enc, self.dec = enc, dec
        self.mlp(f"encoder.{enc}", [784] + self.ENC + [code])
        self.mlp(f"decoder.{dec}", [latent] + self.DEC + [784])

    def encoder(self, x):
        return self.run_mlp(x, f"encoder.{self.enc}", len(self.ENC) + 1, torch.relu, identity)

    def logits(self, z):
        return self.run_mlp(z, f"decoder.{self.dec}", len(self.DEC) + 1, torch.relu, identity)

    def decode(self, z):
        return torch.sigmoid(self.logits(z))


class BinaryAe(MlpAe):
    """examples/binary/binary.hgl: 64 Bernoulli bits with a straight-through gradient, beta
    (0.1) times the KL to fair coins."""

    ENC, DEC = [256, 256], [256, 256]

    def __init__(self, bits=64, beta=0.1):
        super().__init__("bit_logits", "logits", bits, bits)
        self.beta = beta

    def loss(self, x):
        logits = self.encoder(x)
        p = torch.sigmoid(logits)
        # A loss samples, in training and at test time (Hourglass's `sampling`).
        z = (torch.rand_like(p) < p).to(p.dtype)
        z = z + p - p.detach()
        kl = (math.log(2.0) - p * F.softplus(-logits) - (1.0 - p) * F.softplus(logits)).sum(dim=-1)
        return (bce_with_logits(self.logits(z), x).sum(dim=-1) + self.beta * kl).mean()


class FsqAe(MlpAe):
    """examples/fsq/fsq.hgl: finite scalar quantisation (Mentzer et al. 2023), levels 8x5x5x5,
    rounding with a straight-through gradient."""

    ENC, DEC = [128, 128], [128, 128]

    def __init__(self, levels=(8, 5, 5, 5)):
        super().__init__("e", "logits", len(levels), len(levels))
        self.register_buffer("half_levels", (torch.tensor(levels, dtype=torch.float32) - 1.0) * 0.5)

    def loss(self, x):
        half = self.half_levels
        offset = half - torch.floor(half)
        bounded = torch.tanh(self.encoder(x)) * half
        q = torch.round(bounded - offset) + offset
        q = bounded + (q - bounded).detach()
        return bce_with_logits(self.logits(q / half), x).sum(dim=-1).mean()


class GumbelVae(MlpAe):
    """examples/gumbel/gumbel.hgl: 20 categorical latents of 10 classes, hard Gumbel-softmax
    samples (tau 1) with the soft sample's gradient, KL to the uniform prior."""

    ENC, DEC = [256, 256], [256, 256]

    def __init__(self, groups=20, classes=10, tau=1.0):
        super().__init__("flat", "logits", groups * classes, groups * classes)
        self.groups, self.classes, self.tau = groups, classes, tau

    def loss(self, x):
        logits = self.encoder(x).reshape(-1, self.groups, self.classes)
        # A loss samples, in training and at test time (Hourglass's `sampling`).
        u = torch.rand_like(logits) * (1.0 - 2e-6) + 1e-6
        soft = torch.softmax((logits - torch.log(-torch.log(u))) / self.tau, dim=-1)
        hard = F.one_hot(soft.argmax(dim=-1), self.classes).to(soft.dtype)
        z = hard + soft - soft.detach()
        log_q = torch.log_softmax(logits, dim=-1)
        kl = (log_q.exp() * (log_q + math.log(self.classes))).sum(dim=-1).sum(dim=-1)
        rec = bce_with_logits(self.logits(z.reshape(len(x), -1)), x).sum(dim=-1)
        return (rec + kl).mean()


class ConvVae(Twin):
    """bench/models/conv_vae.hgl."""

    IMAGE_SHAPE = True

    def __init__(self, latent=32):
        super().__init__()
        self.conv("encoder.c1", 1, 32, 4)
        self.conv("encoder.c2", 32, 64, 4)
        self.linear("encoder.mu", 64 * 49, latent)
        self.linear("encoder.logvar", 64 * 49, latent)
        self.linear("decoder.expand", latent, 64 * 49)
        self.conv_t("decoder.d1", 64, 32, 4)
        self.conv_t("decoder.logits", 32, 1, 4)

    def heads(self, x):
        c1 = F.conv2d(x, self.p("encoder.c1.w"), self.p("encoder.c1.b"), stride=2, padding=1)
        c2 = F.conv2d(torch.relu(c1), self.p("encoder.c2.w"), self.p("encoder.c2.b"), stride=2, padding=1)
        flat = torch.flatten(torch.relu(c2), 1)
        return self.lin(flat, "encoder.mu"), self.lin(flat, "encoder.logvar")

    def logits(self, z):
        grid = self.lin(z, "decoder.expand").reshape(-1, 64, 7, 7)
        d1 = F.conv_transpose2d(grid, self.p("decoder.d1.w"), self.p("decoder.d1.b"), stride=2, padding=1)
        return F.conv_transpose2d(
            torch.relu(d1), self.p("decoder.logits.w"), self.p("decoder.logits.b"), stride=2, padding=1
        )

    def encode(self, x):
        return self.heads(x)[0]

    def decode(self, z):
        return torch.sigmoid(self.logits(z))

    def loss(self, x):
        mu, logvar = self.heads(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return (bce_with_logits(self.logits(z), x).sum(dim=(1, 2, 3)) + kl_std_normal(mu, logvar)).mean()


class BetaVae(ConvVae):
    """examples/beta_vae/beta_vae.hgl: the benchmark's conv VAE with 10 latents and the KL
    weighted by beta = 4."""

    def __init__(self, latent=10, beta=4.0):
        super().__init__(latent)
        self.beta = beta

    def loss(self, x):
        mu, logvar = self.heads(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = bce_with_logits(self.logits(z), x).sum(dim=(1, 2, 3)).mean()
        return rec + self.beta * kl_std_normal(mu, logvar).mean()


class DenoisingAe(Twin):
    """examples/denoising_ae/denoising_ae.hgl: Gaussian noise (0.3, clamped to [0, 1]) on the
    encoder's input while training only; the clean image is the target."""

    IMAGE_SHAPE = False

    def __init__(self, latent=32, hidden=512, noise=0.3):
        super().__init__()
        self.noise = noise
        self.mlp("encoder.h", [784, hidden, 256])
        self.linear("bottleneck.z", 256, latent)
        self.mlp("decoder.logits", [latent, 256, hidden, 784])

    def loss(self, x):
        noisy = (x + self.noise * torch.randn_like(x)).clamp(0.0, 1.0) if self.training else x
        h = self.run_mlp(noisy, "encoder.h", 2, torch.relu, torch.relu)
        logits = self.run_mlp(self.lin(h, "bottleneck.z"), "decoder.logits", 3, torch.relu, identity)
        return bce_with_logits(logits, x).sum(dim=-1).mean()


def mmd_rbf(x, y, sigma):
    """std.loss.mmd_rbf: the biased squared MMD with a Gaussian kernel."""

    def sq_dists(a, b):
        aa = (a * a).sum(dim=-1, keepdim=True)
        bb = (b * b).sum(dim=-1)[None, :]
        return (aa + bb - 2.0 * (a @ b.T)).clamp_min(0.0)

    scale = -0.5 / (sigma * sigma)
    k = lambda a, b: torch.exp(sq_dists(a, b) * scale).mean()  # noqa: E731
    return k(x, x) + k(y, y) - 2.0 * k(x, y)


class WaeMmd(Twin):
    """examples/wae_mmd/wae_mmd.hgl: deterministic encoder, MMD (sigma 2) to a batch of prior
    draws, weighted by 10."""

    IMAGE_SHAPE = False

    def __init__(self, latent=8, hidden=512, lam=10.0, sigma=2.0):
        super().__init__()
        self.lam, self.sigma, self.latent = lam, sigma, latent
        self.mlp("encoder.h", [784, hidden, 256])
        self.linear("bottleneck.z", 256, latent)
        self.mlp("decoder.logits", [latent, 256, hidden, 784])

    def loss(self, x):
        h = self.run_mlp(x, "encoder.h", 2, torch.relu, torch.relu)
        z = self.lin(h, "bottleneck.z")
        logits = self.run_mlp(z, "decoder.logits", 3, torch.relu, identity)
        rec = bce_with_logits(logits, x).sum(dim=-1).mean()
        return rec + self.lam * mmd_rbf(z, torch.randn_like(z), self.sigma)


def normal_log_prob(x, mu, logvar):
    d = x - mu
    return -0.5 * (math.log(2 * math.pi) + logvar + d * d * torch.exp(-logvar)).sum(dim=-1)


class Iwae(Twin):
    """examples/iwae/iwae.hgl: k = 5 posterior samples per image, the importance-weighted bound."""

    IMAGE_SHAPE = False

    def __init__(self, latent=32, hidden=512, k=5):
        super().__init__()
        self.k = k
        self.mlp("encoder.h", [784, hidden, 256])
        self.linear("encoder.mu", 256, latent)
        self.linear("encoder.logvar", 256, latent)
        self.mlp("decoder.logits", [latent, 256, hidden, 784])

    def loss(self, x):
        h = self.run_mlp(x, "encoder.h", 2, torch.relu, torch.relu)
        mu = self.lin(h, "encoder.mu")[:, None, :].expand(-1, self.k, -1)
        logvar = self.lin(h, "encoder.logvar")[:, None, :].expand(-1, self.k, -1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.run_mlp(z, "decoder.logits", 3, torch.relu, identity)
        log_px = -bce_with_logits(logits, x[:, None, :].expand_as(logits)).sum(dim=-1)
        zero = torch.zeros_like(z)
        log_w = log_px + normal_log_prob(z, zero, zero) - normal_log_prob(z, mu, logvar)
        return -(torch.logsumexp(log_w, dim=-1) - math.log(self.k)).mean()


class VqVae(Twin):
    """bench/models/vqvae.hgl: std.bottleneck.VectorQuantizer with a straight-through gradient."""

    IMAGE_SHAPE = True

    def __init__(self, codes=512, dim=64, beta=0.25, ch=32, mid=32):
        super().__init__()
        self.beta = beta
        self.conv("encoder.c1", 1, ch, 4)
        self.conv("encoder.c2", ch, 2 * ch, 4)
        self.conv("encoder.e", 2 * ch, dim, 1)
        self.param("bottleneck.q.book", (codes, dim), ("uniform", -1.0 / codes, 1.0 / codes))
        self.conv_t("decoder.d1", dim, mid, 4)
        self.conv_t("decoder.logits", mid, 1, 4)

    def cells(self, x):
        c1 = F.conv2d(x, self.p("encoder.c1.w"), self.p("encoder.c1.b"), stride=2, padding=1)
        c2 = F.conv2d(torch.relu(c1), self.p("encoder.c2.w"), self.p("encoder.c2.b"), stride=2, padding=1)
        e = F.conv2d(torch.relu(c2), self.p("encoder.e.w"), self.p("encoder.e.b"))
        return e.permute(0, 2, 3, 1)

    def quantize(self, e):
        book = self.p("bottleneck.q.book")
        d = (e * e).sum(dim=-1, keepdim=True) - 2.0 * (e @ book.t()) + (book * book).sum(dim=-1)
        q = F.embedding(torch.argmin(d, dim=-1), book)
        vq_loss = ((q.detach() - e) ** 2).mean() * self.beta + ((q - e.detach()) ** 2).mean()
        return e + (q - e).detach(), vq_loss

    def logits(self, z):
        grid = z.permute(0, 3, 1, 2)
        d1 = F.conv_transpose2d(grid, self.p("decoder.d1.w"), self.p("decoder.d1.b"), stride=2, padding=1)
        return F.conv_transpose2d(
            torch.relu(d1), self.p("decoder.logits.w"), self.p("decoder.logits.b"), stride=2, padding=1
        )

    def encode(self, x):
        return self.quantize(self.cells(x))[0]

    def decode(self, z):
        return torch.sigmoid(self.logits(z))

    def loss(self, x):
        z, vq_loss = self.quantize(self.cells(x))
        return F.mse_loss(self.decode(z), x) + vq_loss


class ExampleConvVae(Twin):
    """examples/conv_vae/conv_vae.hgl: strided 3x3 convolutions with GroupNorm (4 and 8
    groups) and dropout (0.1, training only) before the Gaussian heads (latent 16); a linear
    expansion, a transposed convolution with GroupNorm and a transposed convolution back."""

    IMAGE_SHAPE = True

    def __init__(self, latent=16, ch=16, drop=0.1):
        super().__init__()
        self.ch, self.drop = ch, drop
        self.conv("encoder.c1", 1, ch, 3)
        self.norm("encoder.n1", ch)
        self.conv("encoder.c2", ch, 2 * ch, 3)
        self.norm("encoder.n2", 2 * ch)
        self.linear("encoder.mu", 2 * ch * 49, latent)
        self.linear("encoder.logvar", 2 * ch * 49, latent)
        self.linear("decoder.expand", latent, 2 * ch * 49)
        self.conv_t("decoder.d1", 2 * ch, ch, 4)
        self.norm("decoder.dn1", ch)
        self.conv_t("decoder.logits", ch, 1, 4)

    def norm(self, name, c):
        self.param(f"{name}.gamma", (c,), "ones")
        self.param(f"{name}.beta", (c,), "zeros")

    def group_norm(self, x, name, groups):
        return F.group_norm(x, groups, self.p(f"{name}.gamma"), self.p(f"{name}.beta"), eps=1e-5)

    def loss(self, x):
        c1 = F.conv2d(x, self.p("encoder.c1.w"), self.p("encoder.c1.b"), stride=2, padding=1)
        n1 = self.group_norm(c1, "encoder.n1", 4)
        c2 = F.conv2d(torch.relu(n1), self.p("encoder.c2.w"), self.p("encoder.c2.b"), stride=2, padding=1)
        flat = torch.flatten(torch.relu(self.group_norm(c2, "encoder.n2", 8)), 1)
        dropped = F.dropout(flat, self.drop, training=self.training)
        mu, logvar = self.lin(dropped, "encoder.mu"), self.lin(dropped, "encoder.logvar")
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        grid = torch.relu(self.lin(z, "decoder.expand")).reshape(-1, 2 * self.ch, 7, 7)
        d1 = F.conv_transpose2d(grid, self.p("decoder.d1.w"), self.p("decoder.d1.b"), stride=2, padding=1)
        dn1 = self.group_norm(d1, "decoder.dn1", 4)
        logits = F.conv_transpose2d(
            torch.relu(dn1), self.p("decoder.logits.w"), self.p("decoder.logits.b"), stride=2, padding=1
        )
        return (bce_with_logits(logits, x).sum(dim=(1, 2, 3)) + kl_std_normal(mu, logvar)).mean()


class AeIdentity(Twin):
    """examples/ae_identity/ae_identity.hgl: Mlp 784 -> 128 -> 128 (relu), LayerNorm, a linear
    code of 16, Mlp 16 -> 128 -> 128 -> 784 back; trained as its train block says, with SGD
    (momentum 0.9), the cosine schedule with 200 warm-up steps and global-norm clipping at 1."""

    IMAGE_SHAPE = False
    CLIP = 1.0

    def __init__(self, latent=16, hidden=128):
        super().__init__()
        self.mlp("encoder.h", [784, hidden, hidden])
        self.param("encoder.norm.gamma", (hidden,), "ones")
        self.param("encoder.norm.beta", (hidden,), "zeros")
        self.linear("encoder.code", hidden, latent)
        self.mlp("decoder.logits", [latent, hidden, hidden, 784])

    def optimizer(self, params, lr, total):
        """SGD with momentum and Hourglass's `cosine(200)` (base * (step + 1) / 200 while
        warming up, then half a cosine to 0 at the last step)."""
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
        return opt, cosine_schedule(opt, 200, total)

    def loss(self, x):
        h = self.run_mlp(x, "encoder.h", 2, torch.relu, torch.relu)
        norm = F.layer_norm(h, h.shape[-1:], self.p("encoder.norm.gamma"), self.p("encoder.norm.beta"), eps=1e-5)
        z = self.lin(norm, "encoder.code")
        logits = self.run_mlp(z, "decoder.logits", 3, torch.relu, identity)
        return bce_with_logits(logits, x).sum(dim=-1).mean()


class ExampleVqVae(VqVae):
    """examples/vqvae/vqvae.hgl: the same network with 16 and 32 channels, 64 codes of 16."""

    def __init__(self):
        super().__init__(codes=64, dim=16, ch=16, mid=32)


class ExampleSae(Twin):
    """examples/sae/sae.hgl: an Mlp encoder (784 -> 128 -> 256, relu after each), the 16
    largest kept, a linear decoder."""

    IMAGE_SHAPE = False

    def __init__(self, features=256, k=16, hidden=128):
        super().__init__()
        self.k = k
        self.mlp("encoder.pre", [784, hidden, features])
        self.linear("decoder.recon", features, 784)

    def loss(self, x):
        pre = self.run_mlp(x, "encoder.pre", 2, torch.relu, torch.relu)
        top = torch.topk(pre, self.k, dim=-1)
        z = torch.zeros_like(pre).scatter_add(-1, top.indices, top.values)
        return F.mse_loss(self.lin(z, "decoder.recon"), x)


class VqVaeEma(VqVae):
    """examples/vqvae_ema/vqvae_ema.hgl: the VQ-VAE's network around
    std.bottleneck.VectorQuantizerEMA, whose codebook is a moving average of the encoder
    outputs (buffers, no gradient), started from encoder outputs of the first batch, with codes
    used less than `restart` times per batch (on the moving average) restarted at random
    outputs of the batch."""

    def __init__(self, codes=512, dim=64, beta=0.25, decay=0.99, eps=1e-5, restart=1.0):
        Twin.__init__(self)
        self.codes, self.beta, self.decay, self.eps, self.restart = codes, beta, decay, eps, restart
        self.conv("encoder.c1", 1, 32, 4)
        self.conv("encoder.c2", 32, 64, 4)
        self.conv("encoder.e", 64, dim, 1)
        self.conv_t("decoder.d1", dim, 32, 4)
        self.conv_t("decoder.logits", 32, 1, 4)
        self.register_buffer("book", torch.zeros(codes, dim))
        self.register_buffer("size", torch.zeros(codes))
        self.register_buffer("acc", torch.zeros(codes, dim))
        self.ready = False

    def rows(self, flat):
        return flat[torch.randint(0, flat.shape[0], (self.codes,))]

    @torch.no_grad()
    def nearest(self, flat):
        first = self.rows(flat) if self.training and not self.ready else None
        now = self.book if first is None else first
        # The codebook this pass quantises with (VqGan's second pass reuses it).
        self.used_book = now.clone()
        d = (flat * flat).sum(dim=-1, keepdim=True) - 2.0 * (flat @ now.t()) + (now * now).sum(dim=-1)
        idx = torch.argmin(d, dim=-1)
        q = now[idx]
        if self.training:
            assigned = F.one_hot(idx, self.codes).to(flat.dtype)
            size = self.size if first is None else torch.ones(self.codes)
            acc = self.acc if first is None else first
            size = self.decay * size + (1.0 - self.decay) * assigned.sum(dim=0)
            acc = self.decay * acc + (1.0 - self.decay) * (assigned.t() @ flat)
            total = size.sum()
            smoothed = (size + self.eps) / (total + self.codes * self.eps) * total
            dead = size < self.restart
            fresh = self.rows(flat)
            self.book.copy_(torch.where(dead[:, None], fresh, acc / smoothed[:, None]))
            self.size.copy_(torch.where(dead, torch.ones_like(size), size))
            self.acc.copy_(torch.where(dead[:, None], fresh, acc))
            self.ready = True
        return q

    def quantize(self, e):
        q = self.nearest(e.detach().reshape(-1, e.shape[-1])).reshape(e.shape)
        return e + (q - e).detach(), self.beta * ((q - e) ** 2).mean()


class VqGan(VqVaeEma):
    """examples/vqgan/vqgan.hgl: the EMA VQ autoencoder (256 codes of 32) against a patch
    discriminator, the critic. The players alternate (`ALTERNATING`): the autoencoder steps on
    reconstruction + commitment + adv_weight * w * hinge_g (from step adv_start), w being VQGAN's
    adaptive weight (taming-transformers' calculate_adaptive_weight at the decoder's last
    layer); then the critic steps on hinge_d of the updated autoencoder's reconstructions (a
    second pass that reads the codebook the first one used and updates no buffer), with its own
    Adam (betas 0.5, 0.9)."""

    ALTERNATING = True

    def __init__(self, codes=256, dim=32, adv_weight=0.8, adv_start=500):
        super().__init__(codes=codes, dim=dim)
        self.adv_weight, self.adv_start, self.step = adv_weight, adv_start, 0
        self.conv("critic.h1", 1, 16, 4)
        self.conv("critic.h2", 16, 32, 4)
        self.conv("critic.score", 32, 1, 3)
        self.replaying, self.used_book = False, None

    def critic_parameters(self):
        return [p for n, p in self.named_parameters() if n.startswith("critic_")]

    def critic_optimizer(self):
        return torch.optim.Adam(self.critic_parameters(), lr=1e-3, betas=(0.5, 0.9))

    @torch.no_grad()
    def nearest(self, flat):
        if not self.replaying:
            return super().nearest(flat)
        book = self.used_book
        d = (flat * flat).sum(dim=-1, keepdim=True) - 2.0 * (flat @ book.t()) + (book * book).sum(dim=-1)
        return book[torch.argmin(d, dim=-1)]

    def scores(self, x, x_hat):
        def leaky(t):
            return torch.maximum(t, 0.2 * t)

        both = torch.cat([x, x_hat], dim=0)
        h1 = F.conv2d(both, self.p("critic.h1.w"), self.p("critic.h1.b"), stride=2, padding=1)
        h2 = F.conv2d(leaky(h1), self.p("critic.h2.w"), self.p("critic.h2.b"), stride=2, padding=1)
        score = F.conv2d(leaky(h2), self.p("critic.score.w"), self.p("critic.score.b"), padding=1)
        return score.reshape(2, len(x), 49)

    def losses(self, x, replay=False):
        """(the autoencoder's loss, the critic's loss); `replay`: the critic's second pass."""
        self.replaying = replay
        z, vq_loss = self.quantize(self.cells(x))
        self.replaying = False
        x_hat = self.decode(z)
        real, fake = self.scores(x, x_hat)
        critic = 0.5 * (torch.relu(1.0 - real).mean() + torch.relu(1.0 + fake).mean())
        if replay:
            return None, critic
        rec = F.mse_loss(x_hat, x)
        adv = -fake.mean()
        on = 1.0 if self.training and self.step >= self.adv_start else 0.0
        weight = 0.0
        if on:
            last = self.p("decoder.logits.w")
            g_rec = torch.autograd.grad(rec, last, retain_graph=True)[0]
            g_adv = torch.autograd.grad(adv, last, retain_graph=True)[0]
            weight = torch.clamp(torch.norm(g_rec) / (torch.norm(g_adv) + 1e-4), 0.0, 1e4).detach()
        loss = rec + vq_loss + self.adv_weight * weight * on * adv
        self.step += int(self.training)
        return loss, critic

    def loss(self, x):
        return self.losses(x)[0]


class Sae(Twin):
    """bench/models/sae.hgl: top-k of (x - pre_bias) @ w + b, relu, unit-norm decoder rows."""

    IMAGE_SHAPE = False

    def __init__(self, features=4096, k=32):
        super().__init__()
        self.k = k
        self.param("encoder.pre_bias", (784,), "zeros")
        self.linear("encoder.pre", 784, features)
        self.param("decoder.w_dec", (features, 784), "glorot_uniform")

    def encode(self, x):
        pre = self.lin(x - self.p("encoder.pre_bias"), "encoder.pre")
        top = torch.topk(pre, self.k, dim=-1)
        return torch.relu(torch.zeros_like(pre).scatter_add(-1, top.indices, top.values))

    def decode(self, z):
        w = self.p("decoder.w_dec")
        dirs = w * torch.rsqrt((w * w).sum(dim=-1, keepdim=True))
        return z @ dirs + self.p("encoder.pre_bias")

    def loss(self, x):
        return F.mse_loss(self.decode(self.encode(x)), x)


class SaeAuxK(Twin):
    """examples/sae_auxk/sae_auxk.hgl: top-k of (x - bias) @ (enc0 + w_enc)^T + b_enc, relu,
    unit-norm decoder rows, with Gao et al.'s start (std.nn.Initial: at the first training step
    the pre-bias's base is the batch's mean and the encoder's base the decoder's directions,
    held from then on; `pre_bias` and `w_enc` start at zero) and std.bottleneck.TopKAux with
    std.loss.aux_loss: a buffer counts the examples since each latent last fired; latents idle
    for `dead_after` examples are dead, and the k_aux largest of their pre-activations, decoded,
    fit the main reconstruction's residual (weight 1/32)."""

    IMAGE_SHAPE = False

    def __init__(self, features=4096, k=32, k_aux=256, dead_after=20000):
        super().__init__()
        self.k, self.k_aux, self.dead_after = k, k_aux, dead_after
        self.param("encoder.w_dec", (features, 784), "glorot_uniform")
        self.param("encoder.pre_bias", (784,), "zeros")
        self.param("encoder.w_enc", (features, 784), "zeros")
        self.param("encoder.b_enc", (features,), "zeros")
        self.register_buffer("mean0", torch.zeros(784))
        self.register_buffer("enc0", torch.zeros(features, 784))
        self.register_buffer("idle", torch.zeros(features))
        self.ready = False

    def dirs(self):
        w = self.p("encoder.w_dec")
        return w * torch.rsqrt((w * w).sum(dim=-1, keepdim=True))

    def start(self, x, dirs):
        """Initial's values: held from the first training step, `v` itself before it."""
        if self.ready:
            return self.mean0, self.enc0
        mean0, enc0 = x.mean(dim=0).detach(), dirs.detach()
        if self.training:
            self.mean0.copy_(mean0)
            self.enc0.copy_(enc0)
            self.ready = True
        return mean0, enc0

    def pre(self, x, dirs):
        mean0, enc0 = self.start(x, dirs)
        bias = mean0 + self.p("encoder.pre_bias")
        return (x - bias) @ (enc0 + self.p("encoder.w_enc")).t() + self.p("encoder.b_enc"), bias

    def encode(self, x):
        pre, _ = self.pre(x, self.dirs())
        top = torch.topk(pre, self.k, dim=-1)
        return torch.relu(torch.zeros_like(pre).scatter_add(-1, top.indices, top.values))

    def reconstruct(self, x):
        dirs = self.dirs()
        pre, bias = self.pre(x, dirs)
        top = torch.topk(pre, self.k, dim=-1)
        return torch.relu(torch.zeros_like(pre).scatter_add(-1, top.indices, top.values)) @ dirs + bias

    def loss(self, x):
        dirs = self.dirs()
        pre, bias = self.pre(x, dirs)
        top = torch.topk(pre, self.k, dim=-1)
        z = torch.zeros_like(pre).scatter_add(-1, top.indices, top.values)
        dead = self.idle >= self.dead_after
        if self.training:
            fired = (z > 0).any(dim=0)
            self.idle.copy_(torch.where(fired, torch.zeros_like(self.idle), self.idle + len(x)))
        x_hat = torch.relu(z) @ dirs + bias
        rec = F.mse_loss(x_hat, x)
        masked = torch.where(dead, pre, pre.detach() * 0.0 - 1e30)
        extra = torch.topk(masked, self.k_aux, dim=-1)
        values = torch.where(extra.values > -1e29, extra.values, torch.zeros_like(extra.values))
        aux = torch.zeros_like(pre).scatter_add(-1, extra.indices, values)
        aux_loss = F.mse_loss(aux @ dirs, (x - x_hat).detach())
        return rec + aux_loss / 32.0


class Mae(Twin):
    """bench/models/mae.hgl: patches of 4x4 (49), width 128, 4 + 2 pre-norm transformer blocks."""

    IMAGE_SHAPE = True
    PATCH, N = 4, 49

    def __init__(self, dim=128, heads=4, ratio=0.75, enc_blocks=4, dec_blocks=2):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.keep = int(self.N * (1.0 - ratio) + 1e-6)
        self.enc_blocks = [f"encoder.blk{i + 1}" for i in range(enc_blocks)]
        self.dec_blocks = self.decoder_block_names(dec_blocks)
        self.linear("encoder.patches.proj", self.PATCH * self.PATCH, dim)
        self.param("encoder.pos", (self.N, dim), ("normal", 0.02))
        for b in self.enc_blocks:
            self.block(b)
        self.layer_norm("encoder.enc", dim)
        self.linear("decoder.dz", dim, dim)
        self.param("decoder.restored.token", (dim,), ("normal", 0.02))
        self.param("decoder.dec_pos", (self.N, dim), ("normal", 0.02))
        for b in self.dec_blocks:
            self.block(b)
        self.layer_norm("decoder.dnorm", dim)
        self.linear("decoder.pixels.proj", dim, self.PATCH * self.PATCH)

    def decoder_block_names(self, n):
        return [f"decoder.dblk{i + 1}" for i in range(n)]

    def layer_norm(self, name, d):
        self.param(f"{name}.gamma", (d,), "ones")
        self.param(f"{name}.beta", (d,), "zeros")

    def block(self, name):
        d = self.dim
        self.layer_norm(f"{name}.norm1", d)
        for proj in "qkvo":
            self.linear(f"{name}.attn.{proj}", d, d)
        self.layer_norm(f"{name}.norm2", d)
        self.mlp(f"{name}.mlp", [d, 4 * d, d])

    def ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.p(f"{name}.gamma"), self.p(f"{name}.beta"), eps=1e-5)

    def attention(self, x, name):
        b, n, d = x.shape
        h = self.heads

        def split(t):
            return t.reshape(b, n, h, d // h).transpose(1, 2)

        q, k, v = (split(self.lin(x, f"{name}.{p}")) for p in "qkv")
        weights = torch.softmax((q @ k.transpose(-2, -1)) * (d // h) ** -0.5, dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(b, n, d)
        return self.lin(mixed, f"{name}.o")

    def run_block(self, x, name):
        h = x + self.attention(self.ln(x, f"{name}.norm1"), f"{name}.attn")
        return h + self.run_mlp(self.ln(h, f"{name}.norm2"), f"{name}.mlp", 2, F.gelu, identity)

    def patchify(self, x):
        b, p = x.shape[0], self.PATCH
        g = 28 // p
        return x.reshape(b, 1, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, self.N, p * p)

    def unpatchify(self, t):
        b, p = t.shape[0], self.PATCH
        g = 28 // p
        return t.reshape(b, g, g, 1, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, 1, 28, 28)

    def encoder(self, tokens):
        for b in self.enc_blocks:
            tokens = self.run_block(tokens, b)
        return self.ln(tokens, "encoder.enc")

    def decoder_patches(self, z, ids_restore):
        """Pixel logits per patch, [B, 49, 16], tokens in their original order."""
        dz = self.lin(z, "decoder.dz")
        b, kept, d = dz.shape
        if kept < self.N:
            dz = torch.cat([dz, self.p("decoder.restored.token").expand(b, self.N - kept, d)], dim=1)
        t = torch.gather(dz, 1, ids_restore.unsqueeze(-1).expand(b, self.N, d)) + self.p("decoder.dec_pos")
        for blk in self.dec_blocks:
            t = self.run_block(t, blk)
        return self.lin(self.ln(t, "decoder.dnorm"), "decoder.pixels.proj")

    def embed(self, x):
        return self.lin(self.patchify(x), "encoder.patches.proj") + self.p("encoder.pos")

    def encode(self, x):
        ids = torch.arange(self.N, device=x.device).expand(x.shape[0], self.N)
        return self.encoder(self.embed(x)), ids

    def decode(self, z, ids_restore):
        return torch.sigmoid(self.unpatchify(self.decoder_patches(z, ids_restore)))

    def loss(self, x):
        tokens = self.embed(x)
        b, n, d = tokens.shape
        ids_shuffle = torch.argsort(torch.rand(b, n), dim=-1, descending=True)
        ids_restore = torch.argsort(ids_shuffle, dim=-1)
        ids_keep = ids_shuffle[:, : self.keep]
        kept = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(b, self.keep, d))
        mask = 1.0 - torch.zeros(b, n).scatter_add(1, ids_keep, torch.ones(b, self.keep))
        # patchify(sigmoid(unpatchify(p))) is sigmoid(p): the loss reads the patches directly.
        pred = torch.sigmoid(self.decoder_patches(self.encoder(kept), ids_restore))
        err = ((pred - self.patchify(x)) ** 2).mean(dim=-1)
        return (err * mask).sum() / mask.sum()


# The benchmark's models: name -> (Hourglass spec, extra `--set`s, twin class).
MODELS = {
    "vae": ("examples/vae/vae.hgl", [], Vae),
    "conv_vae": ("bench/models/conv_vae.hgl", [], ConvVae),
    "vqvae": ("bench/models/vqvae.hgl", [], VqVae),
    "sae": ("bench/models/sae.hgl", [], Sae),
    "mae": ("bench/models/mae.hgl", [], Mae),
}


class ExampleMae(Mae):
    """examples/mae/mae.hgl: patches of 7x7 (16), width 64, 2 encoder blocks and one decoder
    block (`decoder.dblk`), trained as its train block says: AdamW (betas 0.9, 0.95, weight
    decay 0.05) with the cosine schedule after 100 warm-up steps."""

    PATCH, N = 7, 16

    def __init__(self):
        super().__init__(dim=64, heads=4, ratio=0.75, enc_blocks=2, dec_blocks=1)

    def decoder_block_names(self, n):
        return ["decoder.dblk"]

    def optimizer(self, params, lr, total):
        opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05)
        return opt, cosine_schedule(opt, 100, total)


class SlotAe(Twin):
    """examples/slot_attention/slot_attention.hgl: two strided 5x5 convolutions to an 8x8 grid
    of tokens plus a learned position embedding, LayerNorm and an Mlp (64, 64);
    std.bottleneck.SlotAttention (4 slots of 64, 3 rounds sharing their parameters, a GRU
    update and a residual Mlp, slots started from a learned Gaussian, also outside training);
    a spatial-broadcast decoder painting each slot into colours and a mask logit, the masks a
    softmax over slots; MSE. `x` is [B, 3, 32, 32] (the `shapes` scenes). Trained as its train
    block says: Adam at 4e-4, global-norm clipping at 1."""

    IMAGE_SHAPE = True
    CLIP = 1.0

    def __init__(self, slots=4, dim=64, ch=32, iters=3):
        super().__init__()
        self.slots, self.dim, self.ch, self.iters = slots, dim, ch, iters
        self.conv("encoder.c1", 3, ch, 5)
        self.conv("encoder.c2", ch, ch, 5)
        self.param("encoder.pos", (64, ch), ("normal", 0.02))
        self.layer_norm("encoder.norm", ch)
        self.mlp("encoder.feats", [ch, dim, dim])
        bound = (3.0 / dim) ** 0.5
        s = "bottleneck.s"
        self.param(f"{s}.slot_mu", (dim,), ("uniform", -bound, bound))
        self.param(f"{s}.slot_log_sigma", (dim,), ("uniform", -bound, bound))
        self.layer_norm(f"{s}.inputs", dim)
        for proj in "kv":
            self.param(f"{s}.{proj}.w", (dim, dim), "glorot_uniform")
        self.layer_norm(f"{s}.norm_s", dim)
        self.param(f"{s}.q.w", (dim, dim), "glorot_uniform")
        self.linear(f"{s}.gru.gx", dim, 3 * dim)
        self.linear(f"{s}.gru.gh", dim, 3 * dim)
        self.layer_norm(f"{s}.norm_g", dim)
        self.mlp(f"{s}.mlp", [dim, 2 * dim, dim])
        self.param("decoder.grid_pos", (dim, 8, 8), ("normal", 0.02))
        self.conv_t("decoder.d1", dim, ch, 4)
        self.conv_t("decoder.d2", ch, ch, 4)
        self.conv("decoder.d3", ch, 4, 3)

    def layer_norm(self, name, d):
        self.param(f"{name}.gamma", (d,), "ones")
        self.param(f"{name}.beta", (d,), "zeros")

    def ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.p(f"{name}.gamma"), self.p(f"{name}.beta"), eps=1e-5)

    def gru_cell(self, x, h, name):
        """std.nn.GRUCell: PyTorch's GRUCell equations, gates ordered reset, update, candidate,
        with Linear weights [in, 3H]."""
        xr, xz, xn = self.lin(x, f"{name}.gx").chunk(3, dim=-1)
        hr, hz, hn = self.lin(h, f"{name}.gh").chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        u = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1.0 - u) * n + u * h

    def slot_attention(self, feats):
        s_ = "bottleneck.s"
        inputs = self.ln(feats, f"{s_}.inputs")
        k, v = inputs @ self.p(f"{s_}.k.w"), inputs @ self.p(f"{s_}.v.w")
        noise = torch.randn(feats.shape[0], self.slots, self.dim)
        s = self.p(f"{s_}.slot_mu") + torch.exp(self.p(f"{s_}.slot_log_sigma")) * noise
        for _ in range(self.iters):
            q = self.ln(s, f"{s_}.norm_s") @ self.p(f"{s_}.q.w")
            # [B, N, slots]: every feature distributes itself over the slots.
            a = torch.softmax((k @ q.transpose(1, 2)) * self.dim**-0.5, dim=-1)
            a_eps = a + 1e-8
            w = a_eps / a_eps.sum(dim=1, keepdim=True)
            gru = self.gru_cell(w.transpose(1, 2) @ v, s, f"{s_}.gru")
            s = gru + self.run_mlp(self.ln(gru, f"{s_}.norm_g"), f"{s_}.mlp", 2, torch.relu, identity)
        return s

    def encode(self, x):
        c1 = F.conv2d(x, self.p("encoder.c1.w"), self.p("encoder.c1.b"), stride=2, padding=2)
        c2 = F.conv2d(torch.relu(c1), self.p("encoder.c2.w"), self.p("encoder.c2.b"), stride=2, padding=2)
        tokens = torch.relu(c2).reshape(len(x), self.ch, 64).transpose(1, 2) + self.p("encoder.pos")
        feats = self.run_mlp(self.ln(tokens, "encoder.norm"), "encoder.feats", 2, torch.relu, identity)
        return self.slot_attention(feats)

    def paint(self, z):
        """(masks [B, slots, 1, 32, 32], x_hat [B, 3, 32, 32]) of slots z [B, slots, dim]."""
        b = len(z)
        grid = z.reshape(b * self.slots, self.dim, 1, 1).expand(-1, -1, 8, 8) + self.p("decoder.grid_pos")
        d1 = F.conv_transpose2d(grid, self.p("decoder.d1.w"), self.p("decoder.d1.b"), stride=2, padding=1)
        d2 = F.conv_transpose2d(torch.relu(d1), self.p("decoder.d2.w"), self.p("decoder.d2.b"), stride=2, padding=1)
        d3 = F.conv2d(torch.relu(d2), self.p("decoder.d3.w"), self.p("decoder.d3.b"), padding=1)
        painted = d3.reshape(b, self.slots, 4, 32, 32)
        masks = torch.softmax(painted[:, :, 3:4], dim=1)
        return masks, (painted[:, :, 0:3] * masks).sum(dim=1)

    def decode(self, z):
        return self.paint(z)[1]

    def loss(self, x):
        return F.mse_loss(self.decode(self.encode(x)), x)

    def mask_entropy(self, x):
        """The spec's metric: mean per-pixel entropy of the masks over slots."""
        masks = self.paint(self.encode(x))[0]
        return (-masks * torch.log(masks + 1e-8)).sum(dim=1).mean()
