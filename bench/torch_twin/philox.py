"""The canonical random stream of Hourglass (Philox 4x32-10), reimplemented with numpy so that a
PyTorch twin draws exactly the numbers a model's random ops draw.

The stream is the one documented in the Rust `philox` module of the runtime: a draw site is
`(seed, step, site)`, and element `e` of it takes its bits from one Philox block,

    key     = [seed lo32, seed hi32]
    counter = [block lo32, block hi32, site, step lo32]
    bits(e) = philox4x32_10(counter, key)[e % 4]          with block = e // 4

and `normal(e)` is Box-Muller (cosine half) on `bits(2e)` and `bits(2e + 1)`:
`u1 = ((bits(2e) >> 8) + 1) * 2^-24`, `u2 = (bits(2e + 1) >> 8) * 2^-24`,
`sqrt(-2 ln u1) * cos(2 pi u2)`, computed in f64 (an f32 op rounds the result).

A random op of a train step draws from site `site` (the compiler numbers a model's random ops
from 0, see `hgc ir FILE --stage train`) with `step` = the optimizer step; element `i` of its
row-major output is stream element `offset + i`, where `offset` is the call's `first_example`
times the op's elements per example (a train step starts at example 0, so `offset` is 0).

    python philox.py          # checks the known-answer values of the Rust tests
"""

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF
UNIT = 2.0 ** -24


def philox4x32_10(ctr, key):
    """Philox 4x32 with 10 rounds on arrays: ctr is [4, n] (uint64 holding 32-bit words), key is
    two ints; returns [4, n]."""
    c0, c1, c2, c3 = (np.asarray(w, dtype=np.uint64) & MASK for w in ctr)
    k0, k1 = np.uint64(key[0] & MASK), np.uint64(key[1] & MASK)
    m0, m1, mask = np.uint64(M0), np.uint64(M1), np.uint64(MASK)
    for r in range(10):
        if r > 0:
            k0 = np.uint64((int(k0) + W0) & MASK)
            k1 = np.uint64((int(k1) + W1) & MASK)
        p0 = m0 * c0  # < 2^64: no overflow
        p1 = m1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & mask
        hi1, lo1 = p1 >> np.uint64(32), p1 & mask
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3])


def blocks(seed, step, site, block):
    """The four words of Philox blocks `block` (an array of block numbers): [4, n]."""
    block = np.asarray(block, dtype=np.uint64)
    n = block.shape
    ctr = [
        block & np.uint64(MASK),
        block >> np.uint64(32),
        np.full(n, site & MASK, dtype=np.uint64),
        np.full(n, step & MASK, dtype=np.uint64),
    ]
    return philox4x32_10(ctr, (seed & MASK, (seed >> 32) & MASK))


def bits(seed, step, site, elements):
    """The 32 random bits of stream elements `elements`."""
    e = np.asarray(elements, dtype=np.uint64)
    words = blocks(seed, step, site, e // np.uint64(4))
    return np.take_along_axis(words, (e % np.uint64(4)).astype(np.int64)[None, :], axis=0)[0]


def uniform01(seed, step, site, n, offset=0):
    """Stream elements offset .. offset + n as uniforms in [0, 1) (f64)."""
    e = np.arange(n, dtype=np.uint64) + np.uint64(offset)
    return (bits(seed, step, site, e) >> np.uint64(8)).astype(np.float64) * UNIT


def normal(seed, step, site, n, offset=0):
    """Stream elements offset .. offset + n as standard normals (f64)."""
    e = np.arange(n, dtype=np.uint64) + np.uint64(offset)
    words = blocks(seed, step, site, e // np.uint64(2))
    lane = ((e % np.uint64(2)) * np.uint64(2)).astype(np.int64)
    b1 = np.take_along_axis(words, lane[None, :], axis=0)[0]
    b2 = np.take_along_axis(words, (lane + 1)[None, :], axis=0)[0]
    u1 = ((b1 >> np.uint64(8)) + np.uint64(1)).astype(np.float64) * UNIT
    u2 = (b2 >> np.uint64(8)).astype(np.float64) * UNIT
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def self_test():
    """The known-answer values of the Rust tests of the stream (Random123 vectors, the stream
    layout, and values of the documented stream)."""
    def block(ctr, key):
        return [int(w) for w in philox4x32_10([[c] for c in ctr], key)[:, 0]]

    assert block([0] * 4, [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert block([MASK] * 4, [MASK, MASK]) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert block([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]) == [
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    # Layout: element 4 * block + lane of (seed, step, site).
    seed, step, site, blk = 0x299F31D0A4093822, 0x703707344, 0x13198A2E, 0x5243F6A88
    want = block([0x243F6A88, 5, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0])
    assert [int(b) for b in bits(seed, step, site, [blk * 4 + lane for lane in range(4)])] == want
    assert int(bits(1, 5, 2, [9])[0]) == int(bits(1, 5 + (1 << 32), 2, [9])[0])
    assert [int(b) for b in bits(42, 7, 3, range(6))] == [
        0xF19BCAE4, 0x0D898979, 0x1FC36425, 0x0B0241DE, 0x92B91C8A, 0x2D8C94AF]
    assert list(uniform01(42, 7, 3, 6)) == [
        0.9437834024429321, 0.05287986993789673, 0.12407517433166504,
        0.0430031418800354, 0.5731370449066162, 0.17792630195617676]
    z = normal(42, 7, 3, 3)
    assert np.allclose(z, [0.32156791433059734, 1.9688496672051823, 0.4616453261786726], rtol=0, atol=1e-13)
    s2 = (0x0123456789ABCDEF, 0xFEDCBA9876543210, 0xDEADBEEF)
    assert uniform01(*s2, 1, offset=1000003)[0] == 0.6107682585716248
    assert abs(normal(*s2, 1, offset=1000003)[0] - -0.29292375371553186) < 1e-13
    assert abs(normal(*s2, 1, offset=5)[0] - -1.6996494692667623) < 1e-13
    # An offset only shifts the element index.
    assert np.array_equal(normal(9, 1, 4, 8, offset=3), normal(9, 1, 4, 11)[3:])


if __name__ == "__main__":
    self_test()
    print("philox: known-answer values ok")
