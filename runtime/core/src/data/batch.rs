//! Cutting arrays that share their first axis into batches, epoch after epoch.
//!
//! A batch is identified by `(epoch, position)`: the epoch number and the index, within that
//! epoch's order, of its first example. With shuffling, epoch `e` visits the examples in the
//! order `ShuffleRng::permutation(len, seed, e)`, so the order depends only on the seed and the
//! epoch and a run resumed at `(epoch, position)` sees exactly the batches it would have seen.
//!
//! **Invariant**: every epoch yields at least one batch (checked at construction), so iterating
//! over several epochs always makes progress.

use super::DataError;
use hg_exec::philox::ShuffleRng;
use hg_exec::tensor::Tensor;

/// How to batch: size, order, and which epochs to cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    pub batch_size: usize,
    /// Visit examples in a seeded random order, a new one each epoch.
    pub shuffle: bool,
    pub seed: u64,
    /// Skip the last batch of an epoch when it is smaller than `batch_size` (for training).
    pub drop_last: bool,
    /// Where to begin: epoch number and position of the first batch within it.
    pub start_epoch: u64,
    pub start_position: usize,
    /// Stop before this epoch; `None` runs forever.
    pub end_epoch: Option<u64>,
}

impl BatchConfig {
    /// One pass in order over the data, keeping the last short batch.
    pub fn new(batch_size: usize) -> BatchConfig {
        BatchConfig {
            batch_size,
            shuffle: false,
            seed: 0,
            drop_last: false,
            start_epoch: 0,
            start_position: 0,
            end_epoch: Some(1),
        }
    }
}

/// Iterator over `(epoch, position, batch)`, where `batch` holds one tensor per input array,
/// each with the batch's rows.
#[derive(Clone, Debug)]
pub struct BatchIter<'a> {
    arrays: &'a [Tensor],
    len: usize,
    config: BatchConfig,
    epoch: u64,
    position: usize,
    /// The current epoch's shuffled order, built when the epoch starts.
    order: Option<Vec<usize>>,
}

impl<'a> BatchIter<'a> {
    pub fn new(arrays: &'a [Tensor], config: BatchConfig) -> Result<BatchIter<'a>, DataError> {
        let mismatch = |msg: String| Err(DataError::Mismatch(msg));
        let Some(first) = arrays.first() else {
            return mismatch("there are no data arrays to batch".into());
        };
        let len = first.shape().first().copied().unwrap_or(0);
        for t in arrays {
            match t.shape().first() {
                None => return mismatch(format!("cannot batch a scalar ({t}); data arrays need an axis of examples")),
                Some(&n) if n != len => {
                    return mismatch(format!(
                        "cannot batch arrays with different numbers of examples ({first} and {t})"
                    ));
                }
                Some(_) => {}
            }
        }
        if config.batch_size == 0 {
            return mismatch("the batch size must be at least 1".into());
        }
        if len == 0 {
            return mismatch("the data set has no examples".into());
        }
        if config.drop_last && len < config.batch_size {
            return mismatch(format!(
                "the data set has {len} examples, fewer than one batch of {}, and the last partial batch is dropped",
                config.batch_size
            ));
        }
        if config.start_position > len {
            return mismatch(format!(
                "cannot resume at position {} of an epoch of {len} examples",
                config.start_position
            ));
        }
        let (epoch, position) = (config.start_epoch, config.start_position);
        Ok(BatchIter { arrays, len, config, epoch, position, order: None })
    }

    /// Number of examples per epoch.
    pub fn len_examples(&self) -> usize {
        self.len
    }

    /// Batches in one full epoch.
    pub fn batches_per_epoch(&self) -> usize {
        if self.config.drop_last {
            self.len / self.config.batch_size
        } else {
            self.len.div_ceil(self.config.batch_size)
        }
    }

    /// The `(epoch, position)` at which the next batch starts: what a checkpoint records to
    /// resume exactly here.
    pub fn resume_point(&self) -> (u64, usize) {
        if self.epoch_done() { (self.epoch + 1, 0) } else { (self.epoch, self.position) }
    }

    fn epoch_done(&self) -> bool {
        let left = self.len - self.position;
        left == 0 || (self.config.drop_last && left < self.config.batch_size)
    }
}

impl Iterator for BatchIter<'_> {
    type Item = (u64, usize, Vec<Tensor>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.epoch_done() {
            self.epoch += 1;
            self.position = 0;
            self.order = None;
        }
        if self.config.end_epoch.is_some_and(|end| self.epoch >= end) {
            return None;
        }
        let start = self.position;
        let end = (start + self.config.batch_size).min(self.len);
        let batch = if self.config.shuffle {
            let (len, seed, epoch) = (self.len, self.config.seed, self.epoch);
            let order = self.order.get_or_insert_with(|| ShuffleRng::permutation(len, seed, epoch));
            self.arrays.iter().map(|t| t.gather_rows(&order[start..end])).collect()
        } else {
            self.arrays.iter().map(|t| t.slice_rows(start, end)).collect()
        };
        self.position = end;
        Some((self.epoch, start, batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrays(n: usize) -> Vec<Tensor> {
        vec![
            Tensor::from_f32(vec![n, 2], (0..2 * n).map(|i| i as f32).collect()).unwrap(),
            Tensor::from_i64(vec![n], (0..n as i64).collect()).unwrap(),
        ]
    }

    fn ids(batch: &[Tensor]) -> Vec<i64> {
        batch[1].to_f64_vec().iter().map(|&v| v as i64).collect()
    }

    #[test]
    fn in_order_batches_cover_the_data_once() {
        let data = arrays(10);
        let batches: Vec<_> = BatchIter::new(&data, BatchConfig::new(4)).unwrap().collect();
        let starts: Vec<_> = batches.iter().map(|(e, p, _)| (*e, *p)).collect();
        assert_eq!(starts, vec![(0, 0), (0, 4), (0, 8)]);
        assert_eq!(ids(&batches[2].2), vec![8, 9]);
        assert_eq!(batches[2].2[0].to_f64_vec(), vec![16.0, 17.0, 18.0, 19.0]);
        let it =
            BatchIter::new(&data, BatchConfig { drop_last: true, end_epoch: Some(2), ..BatchConfig::new(4) }).unwrap();
        assert_eq!(it.batches_per_epoch(), 2);
        let starts: Vec<_> = it.map(|(e, p, b)| (e, p, b[0].shape()[0])).collect();
        assert_eq!(starts, vec![(0, 0, 4), (0, 4, 4), (1, 0, 4), (1, 4, 4)]);
    }

    #[test]
    fn shuffled_epochs_are_permutations_and_differ() {
        let data = arrays(10);
        let config = BatchConfig { shuffle: true, seed: 3, end_epoch: Some(2), ..BatchConfig::new(3) };
        let batches: Vec<_> = BatchIter::new(&data, config.clone()).unwrap().collect();
        let epoch = |e: u64| batches.iter().filter(|b| b.0 == e).flat_map(|b| ids(&b.2)).collect::<Vec<_>>();
        let (e0, e1) = (epoch(0), epoch(1));
        assert_eq!(e0, ShuffleRng::permutation(10, 3, 0).iter().map(|&i| i as i64).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        let mut sorted = e1.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        // Rows of all arrays stay aligned.
        for (_, _, b) in &batches {
            let x = b[0].to_f64_vec();
            for (k, id) in ids(b).iter().enumerate() {
                assert_eq!(x[2 * k], 2.0 * *id as f64);
            }
        }
    }

    #[test]
    fn resuming_reproduces_the_remaining_batches() {
        let data = arrays(11);
        let config = BatchConfig { shuffle: true, seed: 9, drop_last: true, end_epoch: Some(3), ..BatchConfig::new(4) };
        let full: Vec<_> = BatchIter::new(&data, config.clone()).unwrap().collect();
        let mut it = BatchIter::new(&data, config.clone()).unwrap();
        for _ in 0..3 {
            it.next();
        }
        let (epoch, position) = it.resume_point();
        assert_eq!((epoch, position), (1, 4));
        let resumed: Vec<_> =
            BatchIter::new(&data, BatchConfig { start_epoch: epoch, start_position: position, ..config })
                .unwrap()
                .collect();
        assert_eq!(resumed, full[3..].to_vec());
        // After the last batch of an epoch (the 3-example tail is dropped), resume at the next epoch.
        let mut it = BatchIter::new(&data, BatchConfig { drop_last: true, ..BatchConfig::new(4) }).unwrap();
        it.next();
        it.next();
        assert_eq!(it.resume_point(), (1, 0));
    }

    #[test]
    fn impossible_configurations_are_errors() {
        let data = arrays(3);
        let err = |arrays: &[Tensor], config: BatchConfig| BatchIter::new(arrays, config).unwrap_err().to_string();
        assert!(err(&data, BatchConfig::new(0)).contains("at least 1"));
        assert!(
            err(&data, BatchConfig { drop_last: true, ..BatchConfig::new(4) }).contains("fewer than one batch of 4")
        );
        assert!(err(&[], BatchConfig::new(1)).contains("no data arrays"));
        assert!(err(&arrays(0), BatchConfig::new(1)).contains("no examples"));
        assert!(
            err(&[data[0].clone(), arrays(4)[1].clone()], BatchConfig::new(1))
                .contains("different numbers of examples")
        );
        assert!(err(&data, BatchConfig { start_position: 4, ..BatchConfig::new(1) }).contains("resume at position 4"));
        // Endless iteration keeps producing epochs.
        let endless = BatchIter::new(&data, BatchConfig { end_epoch: None, ..BatchConfig::new(2) }).unwrap();
        assert_eq!(endless.take(7).last().map(|(e, p, _)| (e, p)), Some((3, 0)));
    }
}
