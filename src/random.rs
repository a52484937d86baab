//! Sources of randomness and wall-clock time for nonces and challenges.
//!
//! The session never reads the OS on its own: SCRAM nonces, CRAM-MD5
//! challenges and the key behind fake SCRAM salts come from the [`Entropy`]
//! in the [`Config`](crate::Config). [`OsEntropy`] is the default;
//! [`FixedEntropy`] makes tests reproducible.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where nonces and challenge timestamps come from.
pub trait Entropy: Debug + Send + Sync {
    /// Fills `buf` with unpredictable bytes (a CSPRNG in production).
    fn fill(&self, buf: &mut [u8]);

    /// Seconds since the Unix epoch, used only inside CRAM-MD5 challenges.
    fn unix_time(&self) -> u64;
}

/// The operating system's CSPRNG (`getrandom`) and clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom fails only where no OS entropy exists at all; a
        // predictable nonce would be worse than stopping.
        #[allow(clippy::expect_used)]
        getrandom::fill(buf).expect("the operating system's random source failed");
    }

    fn unix_time(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A deterministic source for tests and reproducible transcripts: a
/// counter-mode stream (SplitMix64) from a seed, and a fixed clock.
/// Never use it in production.
#[derive(Debug)]
pub struct FixedEntropy {
    state: AtomicU64,
    time: u64,
}

impl FixedEntropy {
    /// A source that starts from `seed` and reports `unix_time` as the clock.
    pub const fn new(seed: u64, unix_time: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
            time: unix_time,
        }
    }
}

impl Entropy for FixedEntropy {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut z = self
                .state
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }

    fn unix_time(&self) -> u64 {
        self.time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_is_reproducible_and_os_is_not_constant() {
        let (a, b) = (FixedEntropy::new(7, 1), FixedEntropy::new(7, 1));
        let (mut x, mut y) = ([0u8; 20], [0u8; 20]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        a.fill(&mut y);
        assert_ne!(x, y);
        let (mut p, mut q) = ([0u8; 16], [0u8; 16]);
        OsEntropy.fill(&mut p);
        OsEntropy.fill(&mut q);
        assert_ne!(p, q);
    }
}
