//! The one source of randomness of a simulated run: PCG-XSH-RR 64/32 (O'Neill's `pcg32`).
//!
//! Our own twenty lines rather than a crate's generator, so the stream can never change under
//! a dependency update: the same seed gives the same schedule on every machine and every
//! version of nspsim. The test vectors below pin it to the reference implementation.

/// The pcg32 generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcg32 {
    state: u64,
    inc: u64,
}

const MULTIPLIER: u64 = 6364136223846793005;

impl Pcg32 {
    /// `pcg32_srandom_r(seed, stream)` of the reference implementation.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Pcg32 {
            state: 0,
            inc: (stream << 1) | 1,
        };
        rng.next_u32();
        rng.state = rng.state.wrapping_add(seed);
        rng.next_u32();
        rng
    }

    /// A generator for a run seed (stream fixed, so the seed alone names the run).
    pub fn from_seed(seed: u64) -> Self {
        Pcg32::new(seed, 0x6e73_7073_696d) // "nspsim"
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULTIPLIER).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    pub fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }

    /// A uniform number in `0..bound` (`bound` ≥ 1), without modulo bias.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound <= 1 {
            return 0;
        }
        // Reject the top sliver of the range that would favour small values.
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % bound;
            }
        }
    }

    /// `true` with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_pcg32_demo() {
        // pcg32-demo with seed 42, sequence 54 (pcg-c-basic).
        let mut rng = Pcg32::new(42, 54);
        let got: Vec<u32> = (0..6).map(|_| rng.next_u32()).collect();
        assert_eq!(
            got,
            [
                0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e
            ]
        );
    }

    #[test]
    fn run_seed_stream_is_pinned() {
        // If this changes, every recorded seed replays differently: never change it in v1.
        let mut rng = Pcg32::from_seed(7);
        let got: Vec<u64> = (0..4).map(|_| rng.below(1000)).collect();
        let again: Vec<u64> = {
            let mut rng = Pcg32::from_seed(7);
            (0..4).map(|_| rng.below(1000)).collect()
        };
        assert_eq!(got, again);
        assert_eq!(got, PINNED_SEED_7);
    }

    const PINNED_SEED_7: [u64; 4] = [133, 379, 561, 499];

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Pcg32::from_seed(1);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let x = rng.below(5);
            assert!(x < 5);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(rng.below(1), 0);
        assert_eq!(rng.below(0), 0);
    }
}
