//! Exact money: amounts are integer fen (the yuan's hundredth), shares are exact
//! fractions, and every split is by largest remainder, so that the parts always add
//! up to the whole, to the fen. No floating point anywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ChartError, Result};

/// An exact share of an amount, between 0 and 1: `numerator / denominator`, kept in
/// lowest terms. Written as a percentage (`27%`, `27.5%`), a decimal (`0.27`) or a
/// fraction of decimals (`116.85/324.89`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Share {
    numerator: u64,
    denominator: u64,
}

/// Digits a decimal in a share may have (so that every product fits in 128 bits).
const SHARE_DIGITS: usize = 15;

impl Share {
    /// `numerator / denominator`; fails unless `0 <= numerator <= denominator` and
    /// `denominator > 0`.
    pub fn new(numerator: u64, denominator: u64) -> Result<Share> {
        if denominator == 0 || numerator > denominator {
            return Err(ChartError::InvalidMethodology(format!(
                "share {numerator}/{denominator} must lie between 0 and 1"
            )));
        }
        let divisor = gcd(numerator, denominator);
        Ok(Share {
            numerator: numerator / divisor,
            denominator: denominator / divisor,
        })
    }

    /// The numerator, in lowest terms.
    pub fn numerator(&self) -> u64 {
        self.numerator
    }

    /// The denominator, in lowest terms.
    pub fn denominator(&self) -> u64 {
        self.denominator
    }

    /// Splits `amount` fen into (this share of it, the rest) by largest remainder:
    /// the share is `floor(amount × share)`, plus the one fen left over when its
    /// remainder is at least the rest's (ties go to the share).
    pub fn split(&self, amount: u64) -> (u64, u64) {
        let parts = apportion(amount, &[self.numerator, self.denominator - self.numerator])
            .expect("a share's parts weigh its denominator, never zero");
        (parts[0], parts[1])
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// A non-negative decimal as (digits without the point, digits after the point).
fn decimal(text: &str) -> Option<(u64, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = whole.len() + fraction.len();
    let plain = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if digits == 0 || digits > SHARE_DIGITS || !plain(whole) || !plain(fraction) {
        return None;
    }
    let value = format!("{whole}{fraction}").parse().ok()?;
    Some((value, fraction.len() as u32))
}

impl FromStr for Share {
    type Err = ChartError;

    fn from_str(text: &str) -> Result<Share> {
        let bad = || {
            ChartError::InvalidMethodology(format!(
                "share `{text}`: expected a percentage (27%), a decimal (0.27) or a fraction (116.85/324.89) between 0 and 1"
            ))
        };
        let trimmed = text.trim();
        let (numerator, denominator) = if let Some(percent) = trimmed.strip_suffix('%') {
            let (value, scale) = decimal(percent.trim()).ok_or_else(bad)?;
            (value, 100 * 10u64.pow(scale))
        } else if let Some((top, bottom)) = trimmed.split_once('/') {
            let (top, top_scale) = decimal(top.trim()).ok_or_else(bad)?;
            let (bottom, bottom_scale) = decimal(bottom.trim()).ok_or_else(bad)?;
            // top/10^a ÷ bottom/10^b = top·10^b ÷ bottom·10^a
            let widen = |value: u64, scale: u32| value.checked_mul(10u64.checked_pow(scale)?);
            let common = top_scale.max(bottom_scale);
            (
                widen(top, common - top_scale).ok_or_else(bad)?,
                widen(bottom, common - bottom_scale).ok_or_else(bad)?,
            )
        } else {
            let (value, scale) = decimal(trimmed).ok_or_else(bad)?;
            (value, 10u64.pow(scale))
        };
        Share::new(numerator, denominator).map_err(|_| bad())
    }
}

impl fmt::Display for Share {
    /// `27/100`: the fraction in lowest terms.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Splits `total` fen into parts proportional to `weights`, exactly (largest
/// remainder, also called Hamilton's method): part `i` is `floor(total × wᵢ / W)`,
/// and the fen still left (fewer than the number of parts) go one each to the parts
/// with the largest remainders `total × wᵢ mod W`; equal remainders go to the earlier
/// part, so the caller's order of `weights` is the tie order. The parts add up to
/// `total`. `None` when the weights add up to zero (there is nothing to split by).
pub fn apportion(total: u64, weights: &[u64]) -> Option<Vec<u64>> {
    let sum: u128 = weights.iter().map(|&w| w as u128).sum();
    if sum == 0 {
        return None;
    }
    let total = total as u128;
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: u128 = 0;
    for (index, &weight) in weights.iter().enumerate() {
        // total < 2^64 and weight < 2^64: the product fits in 128 bits.
        let product = total * weight as u128;
        let part = product / sum;
        given += part;
        parts.push(part as u64);
        remainders.push((product % sum, index));
    }
    let left = (total - given) as usize;
    if left > 0 {
        // Largest remainder first; equal remainders in the caller's order.
        remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, index) in &remainders[..left] {
            parts[index] += 1;
        }
    }
    Some(parts)
}

/// An amount of fen as yuan with two decimals: `123456` is `1234.56`, `-5` is `-0.05`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02}", fen / 100, fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_exactly() {
        let share = |s: &str| s.parse::<Share>().unwrap().to_string();
        assert_eq!(share("27%"), "27/100");
        assert_eq!(share("27.5%"), "11/40");
        assert_eq!(share("0.3"), "3/10");
        assert_eq!(share("116.85/324.89"), "11685/32489");
        assert_eq!(share("1/3"), "1/3");
        assert_eq!(share("0%"), "0/1");
        assert_eq!(share("100%"), "1/1");
        for bad in ["", "%", "101%", "-1%", "1/0", "3/2", "0.1.2", "abc", "1e-3"] {
            let err = bad.parse::<Share>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn splits_add_up_and_break_ties_in_order() {
        assert_eq!(apportion(1, &[1, 1, 1]), Some(vec![1, 0, 0]));
        assert_eq!(apportion(2, &[1, 1, 1]), Some(vec![1, 1, 0]));
        assert_eq!(apportion(10, &[1, 2, 3, 4]), Some(vec![1, 2, 3, 4]));
        // 100 × 1/6 = 16.67, × 2/6 = 33.33, × 3/6 = 50: the 1 fen left goes to the first.
        assert_eq!(apportion(100, &[1, 2, 3]), Some(vec![17, 33, 50]));
        assert_eq!(apportion(5, &[0, 0]), None);
        assert_eq!(apportion(0, &[3, 1]), Some(vec![0, 0]));
        let share = "27%".parse::<Share>().unwrap();
        assert_eq!(share.split(100), (27, 73));
        assert_eq!(share.split(1), (0, 1)); // 0.27 < 0.73
        assert_eq!("50%".parse::<Share>().unwrap().split(1), (1, 0)); // a tie
    }

    #[test]
    fn large_amounts_do_not_overflow() {
        let total = 10u64.pow(13) * 1_000;
        let weights = [u64::MAX, u64::MAX - 1, 7];
        let parts = apportion(total, &weights).unwrap();
        assert_eq!(parts.iter().sum::<u64>(), total);
        let (a, b) = "116.85/324.89".parse::<Share>().unwrap().split(u64::MAX);
        assert_eq!(a as u128 + b as u128, u64::MAX as u128);
    }

    #[test]
    fn yuan_has_two_decimals() {
        assert_eq!(yuan(123_456), "1234.56");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(i64::MIN), "-92233720368547758.08");
    }
}
