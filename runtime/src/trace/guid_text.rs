//! A GUID's text in a trace line (`6f0e2a57-2f7c-4d8b-9a3e-1c2b3d4e5f60`): written without the
//! formatting machinery, and remembered by a writer of many lines for the few GUIDs that a
//! trace names on most of them (its providers).

use crate::wsa::Guid;

/// The canonical lowercase text of a GUID, as `Guid`'s `Display` writes it.
pub fn write_guid(out: &mut String, g: &Guid) {
    out.push_str(std::str::from_utf8(&guid_bytes(*g)).unwrap_or_default());
}

fn guid_bytes(g: Guid) -> [u8; 36] {
    let v = g.0;
    let mut buf = [b'-'; 36];
    // The five groups of 8, 4, 4, 4 and 12 digits, each from eight digits at a time.
    buf[0..8].copy_from_slice(&hex8((v >> 96) as u32));
    buf[9..13].copy_from_slice(&hex8((v >> 80) as u32)[4..]);
    buf[14..18].copy_from_slice(&hex8((v >> 64) as u32)[4..]);
    buf[19..23].copy_from_slice(&hex8((v >> 48) as u32)[4..]);
    buf[24..28].copy_from_slice(&hex8((v >> 32) as u32)[4..]);
    buf[28..36].copy_from_slice(&hex8(v as u32));
    buf
}

/// The eight lowercase hex digits of `x`, most significant first, computed in one word rather
/// than a digit at a time through a table (which took about twice the instructions).
fn hex8(x: u32) -> [u8; 8] {
    let x = u64::from(x);
    // Spread the eight nibbles over the eight bytes, the most significant in the top byte:
    // halves to 32-bit lanes, bytes to 16-bit lanes, nibbles to bytes.
    let v = ((x & 0xffff_0000) << 16) | (x & 0xffff);
    let v = ((v & 0x0000_ff00_0000_ff00) << 8) | (v & 0x0000_00ff_0000_00ff);
    let v = ((v & 0x00f0_00f0_00f0_00f0) << 4) | (v & 0x000f_000f_000f_000f);
    // 1 in each byte whose nibble is 10 or more: those take `a`-`f`, the rest `0`-`9`.
    let letters = ((v + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (v + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)).to_be_bytes()
}

/// The text of a few GUIDs written lately. Writing a GUID's text costs some 200 instructions;
/// finding it here, a few comparisons and one copy. Once the seats are full, a GUID not here
/// takes the seat of the one remembered longest ago, so the memory stays bounded whatever the
/// trace names.
#[derive(Debug, Default)]
pub struct GuidTexts {
    seen: Vec<(Guid, String)>,
    /// Where the next GUID not remembered goes once `seen` is full.
    next: usize,
}

impl GuidTexts {
    /// GUIDs remembered: more than the providers of most scenarios.
    const SEATS: usize = 8;

    /// `g`'s text.
    pub fn text(&mut self, g: Guid) -> &str {
        let at = match self.seen.iter().position(|(k, _)| *k == g) {
            Some(at) => at,
            None => self.remember(g),
        };
        &self.seen[at].1
    }

    fn remember(&mut self, g: Guid) -> usize {
        if self.seen.len() < Self::SEATS {
            let mut text = String::with_capacity(36);
            write_guid(&mut text, &g);
            self.seen.push((g, text));
            return self.seen.len() - 1;
        }
        let at = self.next;
        self.next = (at + 1) % Self::SEATS;
        let (key, text) = &mut self.seen[at];
        *key = g;
        text.clear();
        write_guid(text, &g);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every digit value in every place, the extremes, and a spread of others (xorshift).
    fn sample() -> impl Iterator<Item = u128> {
        let fixed = [
            0u128,
            1,
            u128::MAX,
            0x6f0e2a57_2f7c_4d8b_9a3e_1c2b3d4e5f60,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ];
        let digits = (0..16u8).map(|d| u128::MAX / 15 * u128::from(d));
        let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        let spread = std::iter::repeat_with(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .take(10_000);
        fixed.into_iter().chain(digits).chain(spread)
    }

    #[test]
    fn the_fast_writer_matches_display() {
        for v in sample() {
            let mut out = String::new();
            write_guid(&mut out, &Guid(v));
            assert_eq!(out, Guid(v).to_string());
        }
    }

    #[test]
    fn remembered_texts_are_right_and_bounded() {
        let mut texts = GuidTexts::default();
        // Nine GUIDs in turn, one more than the seats, then again: every answer right,
        // whether it was remembered or had to take a seat.
        let few: Vec<Guid> = (1..=9u128)
            .map(|i| Guid(i * 0x1111_0000_0000_0001))
            .collect();
        for _ in 0..3 {
            for g in &few {
                assert_eq!(texts.text(*g), g.to_string());
            }
        }
        for v in sample() {
            assert_eq!(texts.text(Guid(v)), Guid(v).to_string());
        }
        assert_eq!(texts.seen.len(), GuidTexts::SEATS);
    }
}
