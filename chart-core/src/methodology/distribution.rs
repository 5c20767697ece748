//! D-1, the distribution methodology: how a period's licence fees become amounts
//! owed to rights holders. Its parameters are recorded in every output.
//!
//! For each fee month and venue, in integer fen:
//!
//! 1. each fee row pays its business line's management fee (the society's);
//! 2. what is left (the venue's net) gives the works share to the works payee (the
//!    music-works society, as one payee), and the rest to the recordings;
//! 3. a venue with counted plays that month splits its recordings amount over the
//!    songs counted there, in proportion to their counted plays (under
//!    [`DistributionMethodology::counting`], e.g. GM-1's room cap): *direct*;
//! 4. the recordings amounts of venues without counted plays (not connected, or
//!    silent that month) are pooled by province and split over the counted plays of
//!    the province's venues, or of the whole country when the province has none:
//!    *sampled*, and labelled so;
//! 5. each song's amount goes to its rights holder; a song without one, a fee of a
//!    venue not in the register, and a pool with no plays in the whole country go to
//!    the reserve, each reported with its reason.
//!
//! Every split is by largest remainder ([`super::money::apportion`]): management
//! fee before net, works before recordings, songs by `song_id`. So for every venue
//! and in total: management fee + works share + distributed + reserve = collected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ChartError, Result};
use crate::methodology::Methodology;
use crate::methodology::money::Share;

/// The distribution methodology's parameters. [`DistributionMethodology::default`]
/// is D-1 with the 2024 annual report's figures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributionMethodology {
    /// Methodology version, e.g. `D-1`.
    pub version: String,
    /// The management fee per business line (`ktv`, `mini_ktv`, `vod`, ...). A fee of
    /// a line not listed here is an error, never a guess.
    pub management_fee: BTreeMap<String, Share>,
    /// The share of each venue's net that goes to the works payee.
    pub works_share: Share,
    /// Who receives the works share.
    pub works_payee: String,
    /// The chart methodology whose rules count the plays that amounts follow (its
    /// anti-gaming rules: deduplication, shortest play, room cap). Its chart-only
    /// parameters (top_n, new_song_window_days) do not change any amount.
    pub counting: Methodology,
}

impl Default for DistributionMethodology {
    fn default() -> Self {
        let share = |text: &str| text.parse::<Share>().expect("a valid default share");
        DistributionMethodology {
            version: "D-1".into(),
            management_fee: [("ktv", "27%"), ("mini_ktv", "30%"), ("vod", "30%")]
                .into_iter()
                .map(|(line, rate)| (line.to_string(), share(rate)))
                .collect(),
            // 2024: 116.85 of the 324.89 million yuan distributed went to MCSC.
            works_share: share("116.85/324.89"),
            works_payee: "MCSC".into(),
            counting: Methodology::default(),
        }
    }
}

impl DistributionMethodology {
    /// Checks the parameters (and the counting methodology's).
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(ChartError::InvalidMethodology(msg));
        if self.version.trim().is_empty() {
            return bad("distribution version must not be empty".into());
        }
        if self.works_payee.trim().is_empty() {
            return bad("works_payee must not be empty".into());
        }
        if let Some(line) = self.management_fee.keys().find(|l| l.trim().is_empty()) {
            return bad(format!("management_fee: empty business line `{line}`"));
        }
        self.counting.validate()?;
        Ok(())
    }

    /// The management fee of a business line, if the methodology has one.
    pub fn management_fee_of(&self, business_line: &str) -> Option<Share> {
        self.management_fee.get(business_line).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reports_figures() {
        let d1 = DistributionMethodology::default();
        d1.validate().unwrap();
        assert_eq!(d1.management_fee_of("ktv").unwrap().to_string(), "27/100");
        assert_eq!(d1.management_fee_of("vod").unwrap().to_string(), "3/10");
        assert_eq!(d1.management_fee_of("bgm"), None);
        assert_eq!(d1.works_share.to_string(), "11685/32489");
        let json = serde_json::to_string(&d1).unwrap();
        assert!(json.contains(r#""ktv":"27/100""#), "{json}");
        let back: DistributionMethodology = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d1);
    }
}
