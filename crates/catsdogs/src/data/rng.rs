//! A small seeded random number generator (SplitMix64). Splits, epoch orders and the synthetic
//! sample use it, so they are the same on every machine and with every version of the
//! dependencies.

/// SplitMix64: a 64-bit state advanced by a constant and scrambled on output.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for one `stream` (an epoch, a class, an image) of one `seed`.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng(seed ^ 0x5851_F42D_4C95_7F2D);
        rng.0 = rng.next_u64() ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0), by Lemire's multiply-high, which is unbiased enough here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `low..=high`.
    pub(crate) fn between(&mut self, low: u32, high: u32) -> u32 {
        low + self.below(u64::from(high - low) + 1) as u32
    }

    /// A number in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // SplitMix64 with state 0 gives 0xE220A8397B1DCDAF first (Vigna's reference code).
        let mut rng = Rng(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let shuffled = |seed, stream| {
            let mut v: Vec<u32> = (0..50).collect();
            Rng::new(seed, stream).shuffle(&mut v);
            v
        };
        let a = shuffled(0, 1);
        assert_eq!(a, shuffled(0, 1));
        assert_ne!(a, shuffled(0, 2));
        assert_ne!(a, shuffled(1, 1));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn ranges_stay_inside() {
        let mut rng = Rng::new(3, 4);
        for _ in 0..1000 {
            assert!((5..=9).contains(&rng.between(5, 9)));
            assert!((0.0..1.0).contains(&rng.unit()));
        }
    }
}
