//! A fixed-size log-linear latency histogram (the HdrHistogram idea with 64 sub-buckets per
//! power of two): recording is O(1) without allocation, memory does not grow with the run's
//! length, and any quantile is within 1/64 (1.6 %) of the true sample.

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Values below `2 * SUB` are counted exactly; above, each power of two has `SUB` buckets.
const BUCKETS: usize = (64 - SUB_BITS as usize) * SUB + SUB;

/// Latencies in nanoseconds.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < 2 * SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let shift = exp - SUB_BITS;
    let mantissa = (v >> shift) as usize; // in [SUB, 2 * SUB)
    (shift as usize + 1) * SUB + (mantissa - SUB)
}

/// The lowest value of a bucket and the bucket's width.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < 2 * SUB {
        return (i as u64, 1);
    }
    let shift = (i / SUB - 1) as u32;
    let mantissa = (i % SUB + SUB) as u64;
    (mantissa << shift, 1u64 << shift)
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0u64; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    pub fn record(&mut self, v: u64) {
        self.counts[bucket_of(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.max
        }
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The `q` quantile (`0 <= q <= 1`): the middle of the bucket holding the sample of
    /// rank `ceil(q * count)`, clamped to the observed range. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bucket_range(i);
                return (low + width / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        let mut expected_low = 0u64;
        for i in 0..BUCKETS {
            let (low, width) = bucket_range(i);
            assert_eq!(low, expected_low, "bucket {i}");
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(low + (width - 1)), i);
            expected_low = low.wrapping_add(width);
        }
        assert_eq!(expected_low, 0, "the last bucket ends at u64::MAX");
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_precision() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, exact) in [
            (0.5, 50_000_000f64),
            (0.99, 99_000_000.0),
            (1.0, 100_000_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got - exact).abs() / exact < 1.0 / 64.0, "q={q} got={got}");
        }
        assert_eq!(h.count(), 100_000);
        assert_eq!(h.max(), 100_000_000);
        assert!((h.mean() - 50_000_500.0).abs() < 1.0);
    }

    #[test]
    fn small_values_are_exact_and_merge_adds() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        for v in [3u64, 3, 7] {
            a.record(v);
        }
        b.record(100);
        a.merge(&b);
        assert_eq!(a.count(), 4);
        assert_eq!(a.quantile(0.5), 3);
        assert_eq!(a.quantile(0.75), 7);
        assert_eq!(a.quantile(1.0), 100);
        assert_eq!(Histogram::new().quantile(0.5), 0);
    }
}
