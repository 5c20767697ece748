//! GM-2's screening rules: what a chart that resists manipulation adds to GM-1's
//! counting (the rules themselves are computed in `screened_chart`).
//!
//! Every parameter is an integer (shares in percent), so that two runs, and the
//! reference implementation, compare exactly.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{ChartError, Result};

/// The parameters of GM-2's rules, on top of GM-1's ([`super::Methodology`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Screening {
    /// Rule 1: a play of the same venue, room and song starting within this many
    /// milliseconds after a counted play is a re-send of it and does not count.
    pub resend_window_ms: i64,
    /// Rule 2: a play overlaps when it starts before the previous counted play in its
    /// room ended (start + played_ms) by more than this many milliseconds.
    pub overlap_tolerance_ms: i64,
    /// Rule 2: a room-day with at least this percentage of overlapping plays counts nothing.
    pub overlap_share_percent: i64,
    /// Rule 2: a room with valid plays in at least this many distinct clock hours of
    /// one business day is flagged for review (its plays still count).
    pub max_active_hours: i64,
    /// Rule 3: a song needs at least this many venues for its top venues to be cut.
    pub concentration_min_venues: i64,
    /// Rule 3: how many of a song's top venues are cut.
    pub concentration_top: i64,
    /// Rule 3: the top venues are cut to the mean score of the next this-many venues
    /// (fewer when the song has fewer).
    pub concentration_next: i64,
    /// Rule 4: a song is ranked only with plays counted in at least this many venues...
    pub min_venues: i64,
    /// Rule 4: ...in at least this many cities.
    pub min_cities: i64,
    /// Rule 5: a venue-day or vendor-day is held when its share of the day's valid
    /// plays exceeds this many times its trailing median share.
    pub hold_factor: i64,
    /// Rule 5: a venue-day or vendor-day with fewer valid plays than this is never held
    /// (a small venue's busy night is not an anomaly).
    pub hold_min_plays: i64,
    /// Rule 5: the trailing window, in business days before the day.
    pub hold_window_days: i64,
    /// Rule 5: a venue with plays on fewer days of the window than this is compared
    /// with its province's venues instead (a vendor with the market's vendors).
    pub hold_min_history_days: i64,
    /// Rule 6: positions after the chart's last published as "bubbling under".
    pub bubbling_under: i64,
    /// Rank confidence: bootstrap resamples of the venues.
    pub bootstrap_resamples: i64,
    /// Rank confidence: the seed of the resamples.
    pub bootstrap_seed: u64,
    /// Rank confidence: the interval's coverage in percent.
    pub confidence_percent: i64,
    /// Rule 5: reviewers' decisions on venue-days and vendor-days, applied when the
    /// month is next published (recorded with the parameters in every output).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub review_decisions: Vec<ReviewDecision>,
}

/// A reviewer's decision on a venue-day or vendor-day (rule 5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// `venue` or `vendor`.
    pub kind: String,
    /// The `venue_id` or `vod_vendor`.
    pub id: String,
    /// The business day.
    pub day: NaiveDate,
    /// `include` (its plays count, held or not) or `exclude` (they do not).
    pub decision: String,
    /// Why.
    pub reason: String,
}

/// A file of reviewers' decisions: `[[decision]]` tables of [`ReviewDecision`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecisions {
    /// The decisions, in the file's order.
    #[serde(default)]
    pub decision: Vec<ReviewDecision>,
}

impl ReviewDecisions {
    /// Parses a decisions file's text; `name` names it in errors. A `day` may be a
    /// TOML date (`day = 2024-12-01`) or a string.
    pub fn parse(name: &str, text: &str) -> Result<Vec<ReviewDecision>> {
        let error = |e: &dyn std::fmt::Display| {
            ChartError::InvalidMethodology(format!(
                "{name}: {}",
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        };
        let mut table: toml::Table = toml::from_str(text).map_err(|e| error(&e))?;
        if let Some(toml::Value::Array(decisions)) = table.get_mut("decision") {
            for decision in decisions.iter_mut() {
                if let Some(day) = decision.get_mut("day")
                    && let toml::Value::Datetime(date) = day
                {
                    *day = toml::Value::String(date.to_string());
                }
            }
        }
        let file = ReviewDecisions::deserialize(table).map_err(|e| error(&e))?;
        Ok(file.decision)
    }
}
impl Default for Screening {
    fn default() -> Self {
        Screening {
            resend_window_ms: 5_000,
            overlap_tolerance_ms: 5_000,
            overlap_share_percent: 30,
            max_active_hours: 20,
            concentration_min_venues: 3,
            concentration_top: 2,
            concentration_next: 10,
            min_venues: 5,
            min_cities: 2,
            hold_factor: 5,
            hold_min_plays: 50,
            hold_window_days: 28,
            hold_min_history_days: 7,
            bubbling_under: 25,
            bootstrap_resamples: 200,
            bootstrap_seed: 2024,
            confidence_percent: 90,
            review_decisions: Vec::new(),
        }
    }
}

impl Screening {
    /// The parameters by the names `gm_param('name')` reads them with.
    pub fn integer_parameters(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("resend_window_ms", self.resend_window_ms),
            ("overlap_tolerance_ms", self.overlap_tolerance_ms),
            ("overlap_share_percent", self.overlap_share_percent),
            ("max_active_hours", self.max_active_hours),
            ("concentration_min_venues", self.concentration_min_venues),
            ("concentration_top", self.concentration_top),
            ("concentration_next", self.concentration_next),
            ("min_venues", self.min_venues),
            ("min_cities", self.min_cities),
            ("hold_factor", self.hold_factor),
            ("hold_min_plays", self.hold_min_plays),
            ("hold_window_days", self.hold_window_days),
            ("hold_min_history_days", self.hold_min_history_days),
            ("bubbling_under", self.bubbling_under),
            ("bootstrap_resamples", self.bootstrap_resamples),
            ("confidence_percent", self.confidence_percent),
        ]
    }

    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<()> {
        let at_least = |name: &str, value: i64, min: i64| {
            if value < min {
                Err(ChartError::InvalidMethodology(format!(
                    "{name} must be >= {min}, got {value}"
                )))
            } else {
                Ok(())
            }
        };
        at_least("resend_window_ms", self.resend_window_ms, 0)?;
        at_least("overlap_tolerance_ms", self.overlap_tolerance_ms, 0)?;
        at_least("overlap_share_percent", self.overlap_share_percent, 1)?;
        at_least("max_active_hours", self.max_active_hours, 1)?;
        at_least("concentration_top", self.concentration_top, 0)?;
        at_least("concentration_next", self.concentration_next, 1)?;
        at_least(
            "concentration_min_venues",
            self.concentration_min_venues,
            self.concentration_top + 1,
        )?;
        at_least("min_venues", self.min_venues, 1)?;
        at_least("min_cities", self.min_cities, 1)?;
        at_least("hold_factor", self.hold_factor, 1)?;
        at_least("hold_min_plays", self.hold_min_plays, 1)?;
        at_least("hold_window_days", self.hold_window_days, 1)?;
        at_least("hold_min_history_days", self.hold_min_history_days, 1)?;
        at_least("bubbling_under", self.bubbling_under, 0)?;
        at_least("bootstrap_resamples", self.bootstrap_resamples, 0)?;
        at_least("confidence_percent", self.confidence_percent, 1)?;
        for (name, value) in [
            ("overlap_share_percent", self.overlap_share_percent),
            ("confidence_percent", self.confidence_percent),
        ] {
            if value > 100 {
                return Err(ChartError::InvalidMethodology(format!(
                    "{name} must be <= 100, got {value}"
                )));
            }
        }
        for (i, d) in self.review_decisions.iter().enumerate() {
            if !matches!(d.kind.as_str(), "venue" | "vendor")
                || !matches!(d.decision.as_str(), "include" | "exclude")
                || d.id.trim().is_empty()
                || d.reason.trim().is_empty()
            {
                return Err(ChartError::InvalidMethodology(format!(
                    "review decision {}: kind must be venue or vendor, decision include or exclude, id and reason not empty; got kind `{}`, decision `{}`, id `{}`",
                    i + 1,
                    d.kind,
                    d.decision,
                    d.id
                )));
            }
        }
        if self.max_active_hours > 24 {
            return Err(ChartError::InvalidMethodology(format!(
                "max_active_hours must be <= 24, got {}",
                self.max_active_hours
            )));
        }
        if self.bootstrap_resamples > 10_000 {
            return Err(ChartError::InvalidMethodology(format!(
                "bootstrap_resamples must be <= 10000, got {}",
                self.bootstrap_resamples
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert!(Screening::default().validate().is_ok());
        let bad = |s: Screening| s.validate().unwrap_err().to_string();
        assert_eq!(
            bad(Screening {
                confidence_percent: 120,
                ..Screening::default()
            }),
            "invalid methodology: confidence_percent must be <= 100, got 120"
        );
        assert_eq!(
            bad(Screening {
                concentration_top: 3,
                ..Screening::default()
            }),
            "invalid methodology: concentration_min_venues must be >= 4, got 3"
        );
    }

    #[test]
    fn decisions_parse_with_toml_dates_or_strings() {
        let text = "[[decision]]\nkind = \"venue\"\nid = \"V1\"\nday = 2024-12-01\ndecision = \"exclude\"\nreason = \"loops\"\n\
                    [[decision]]\nkind = \"vendor\"\nid = \"雷石\"\nday = \"2024-12-02\"\ndecision = \"include\"\nreason = \"backlog\"\n";
        let decisions = ReviewDecisions::parse("d.toml", text).unwrap();
        assert_eq!(decisions.len(), 2);
        assert_eq!(
            decisions[0].day,
            NaiveDate::from_ymd_opt(2024, 12, 1).unwrap()
        );
        assert_eq!(decisions[1].id, "雷石");
        let error = ReviewDecisions::parse("d.toml", "[[decision]]\nkind = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid methodology: d.toml: "),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
        let screening = Screening {
            review_decisions: vec![ReviewDecision {
                decision: "maybe".into(),
                ..decisions[0].clone()
            }],
            ..Screening::default()
        };
        assert!(screening.validate().unwrap_err().to_string().contains(
            "review decision 1: kind must be venue or vendor, decision include or exclude"
        ));
    }
}
