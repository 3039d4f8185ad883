//! How a generated kernel is launched: its parameters as the MLIR GPU lowering lays them out,
//! and the grid that covers its parallel loop.
//!
//! Each buffer argument is a one-dimensional memref, which the lowering passes as five
//! parameters (allocated pointer, aligned pointer, offset, size, stride); then come `batch`,
//! `lo` and `hi` (`hg_codegen_mlir::kernel::gpu_module`). A parallel kernel's iterations
//! `lo..hi` are spread over the grid with a grid-stride loop, so any grid is correct and the
//! grid is chosen for occupancy; a kernel that is not parallel runs on one thread.

/// Threads per block of a parallel kernel.
pub const BLOCK: u32 = 256;

/// Blocks launched at most: a grid-stride loop covers the rest, and more blocks than a few
/// waves of the GPU's multiprocessors only add scheduling.
pub const MAX_BLOCKS: u32 = 4096;

/// The launch parameters of a kernel: five words per buffer (`ptr`, `ptr`, `0`, `len`, `1`),
/// then `batch`, `lo`, `hi`. Pointers and sizes are 64-bit, as the NVPTX lowering declares.
pub fn params(buffers: &[(u64, usize)], batch: usize, lo: usize, hi: usize) -> Vec<u64> {
    let mut words = Vec::with_capacity(buffers.len() * 5 + 3);
    for &(ptr, len) in buffers {
        words.extend([ptr, ptr, 0, len as u64, 1]);
    }
    words.extend([batch as u64, lo as u64, hi as u64]);
    words
}

/// `(blocks, threads per block)` for a kernel whose parallel loop has `iterations` (`None`:
/// not parallel); `None` when there is nothing to run.
pub fn grid(iterations: Option<usize>) -> Option<(u32, u32)> {
    match iterations {
        None => Some((1, 1)),
        Some(0) => None,
        Some(n) => {
            let blocks = n.div_ceil(BLOCK as usize).min(MAX_BLOCKS as usize) as u32;
            Some((blocks, BLOCK.min(n as u32).max(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_buffer_is_five_words_then_batch_lo_hi() {
        let p = params(&[(0x1000, 7), (0x2000, 3)], 16, 0, 7);
        assert_eq!(p, vec![0x1000, 0x1000, 0, 7, 1, 0x2000, 0x2000, 0, 3, 1, 16, 0, 7]);
    }

    #[test]
    fn grids_cover_the_parallel_loop_or_one_thread() {
        assert_eq!(grid(None), Some((1, 1)));
        assert_eq!(grid(Some(0)), None);
        assert_eq!(grid(Some(10)), Some((1, 10)));
        assert_eq!(grid(Some(257)), Some((2, 256)));
        // Beyond MAX_BLOCKS blocks the grid-stride loop takes over.
        assert_eq!(grid(Some(1 << 30)), Some((MAX_BLOCKS, BLOCK)));
    }
}
