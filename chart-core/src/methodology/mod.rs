//! The methodologies: GM-1 (the charts) and its parameters, the chart periods, and
//! D-1 (the distribution of licence fees) with its exact money arithmetic.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::{ChartError, Result};

pub mod distribution;
pub(crate) mod event_copies;
pub mod exclusion;
pub mod functions;
pub mod money;
pub mod screening;

pub use distribution::DistributionMethodology;
pub use exclusion::{Exclusion, NO_EXCLUSION_RANK};
pub use screening::Screening;

/// The month GM-2 takes effect: the first chart month published under it.
pub const GM2_EFFECTIVE_FROM: &str = "2025-01";

/// The methodology parameters. [`Methodology::default`] is GM-1, [`Methodology::gm2`]
/// GM-1 plus the screening rules of GM-2; every output records the version and the
/// parameters it was computed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Methodology {
    /// Methodology version, e.g. `GM-1`.
    pub version: String,
    /// IANA time zone of the business day.
    pub timezone: String,
    /// Minutes after local midnight at which a business day starts (GM-1: 06:00).
    pub day_start_minutes: u32,
    /// Shortest play that counts, in milliseconds.
    pub min_played_ms: i32,
    /// Most valid plays counted per venue, room, song and business day.
    pub room_cap: i64,
    /// A song is new when released in the last this-many days up to the period's last day.
    pub new_song_window_days: i64,
    /// Entries on each chart.
    pub top_n: i64,
    /// GM-2's screening rules; `None` (GM-1) counts as GM-1 does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screening: Option<Screening>,
    /// The first chart month (`YYYY-MM`) this methodology is published for; an earlier
    /// month under it is only a back-test. `None`: in effect for every month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<String>,
}

impl Default for Methodology {
    fn default() -> Self {
        Methodology {
            version: "GM-1".into(),
            timezone: "Asia/Shanghai".into(),
            day_start_minutes: 6 * 60,
            min_played_ms: 30_000,
            room_cap: 3,
            new_song_window_days: 365,
            top_n: 100,
            screening: None,
            effective_from: None,
        }
    }
}

impl Methodology {
    /// GM-2: GM-1's counting and charts, screened by the rules of [`Screening`], in
    /// effect from [`GM2_EFFECTIVE_FROM`].
    pub fn gm2() -> Methodology {
        Methodology {
            version: "GM-2".into(),
            screening: Some(Screening::default()),
            effective_from: Some(GM2_EFFECTIVE_FROM.into()),
            ..Methodology::default()
        }
    }

    /// Whether `period` is before the month this methodology takes effect (a back-test).
    pub fn before_effect(&self, period: &Period) -> Result<bool> {
        match &self.effective_from {
            None => Ok(false),
            Some(month) => {
                Ok(period.first_day() < Period::parse_kind(PeriodKind::Month, month)?.first_day())
            }
        }
    }

    /// The methodology a version names: `GM-1` or `GM-2`, with their defaults.
    pub fn named(version: &str) -> Result<Methodology> {
        match version {
            "GM-1" => Ok(Methodology::default()),
            "GM-2" => Ok(Methodology::gm2()),
            other => Err(ChartError::InvalidMethodology(format!(
                "unknown methodology `{other}`; expected GM-1 or GM-2"
            ))),
        }
    }

    /// Checks every parameter's range and parses the time zone.
    pub fn validate(&self) -> Result<chrono_tz::Tz> {
        let bad = |msg: String| Err(ChartError::InvalidMethodology(msg));
        if self.version.trim().is_empty() {
            return bad("version must not be empty".into());
        }
        if self.day_start_minutes >= 24 * 60 {
            return bad(format!(
                "day_start_minutes must be below 1440, got {}",
                self.day_start_minutes
            ));
        }
        if self.min_played_ms < 0 {
            return bad(format!(
                "min_played_ms must be >= 0, got {}",
                self.min_played_ms
            ));
        }
        if self.room_cap < 1 {
            return bad(format!("room_cap must be >= 1, got {}", self.room_cap));
        }
        if self.new_song_window_days < 1 {
            return bad(format!(
                "new_song_window_days must be >= 1, got {}",
                self.new_song_window_days
            ));
        }
        if self.top_n < 1 {
            return bad(format!("top_n must be >= 1, got {}", self.top_n));
        }
        if let Some(screening) = &self.screening {
            screening.validate()?;
        }
        if let Some(month) = &self.effective_from
            && Period::parse_kind(PeriodKind::Month, month).is_err()
        {
            return bad(format!(
                "effective_from must be a month YYYY-MM, got `{month}`"
            ));
        }
        self.timezone
            .parse::<chrono_tz::Tz>()
            .or_else(|_| bad(format!("unknown time zone `{}`", self.timezone)))
    }

    /// The integer parameters by the names the SQL reads them with (`gm_param('name')`).
    /// GM-2's parameters are there only when the methodology screens.
    pub fn integer_parameters(&self) -> Vec<(&'static str, i64)> {
        let mut parameters = vec![
            ("min_played_ms", self.min_played_ms as i64),
            ("room_cap", self.room_cap),
            ("new_song_window_days", self.new_song_window_days),
            ("top_n", self.top_n),
            ("day_start_minutes", self.day_start_minutes as i64),
        ];
        if let Some(screening) = &self.screening {
            parameters.extend(screening.integer_parameters());
        }
        parameters
    }
}

/// Whether a period is a calendar month or a calendar year of business days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// A calendar month (`YYYY-MM`).
    Month,
    /// A calendar year (`YYYY`).
    Year,
}

impl PeriodKind {
    /// `month` or `year`, as in the SQL's `period_kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Year => "year",
        }
    }
}

impl FromStr for PeriodKind {
    type Err = ChartError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "month" => Ok(PeriodKind::Month),
            "year" => Ok(PeriodKind::Year),
            other => Err(ChartError::InvalidPeriod(format!("kind {other}"))),
        }
    }
}

/// A chart period: the business days of a calendar month or year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// A calendar month.
    Month {
        /// The year.
        year: i32,
        /// The month, 1 to 12.
        month: u32,
    },
    /// A calendar year.
    Year(i32),
}

impl Period {
    /// The period of `kind` that contains `day`.
    pub fn containing(kind: PeriodKind, day: NaiveDate) -> Period {
        match kind {
            PeriodKind::Month => Period::Month {
                year: day.year(),
                month: day.month(),
            },
            PeriodKind::Year => Period::Year(day.year()),
        }
    }

    /// Parses a period of a given kind (`YYYY-MM` for months, `YYYY` for years).
    pub fn parse_kind(kind: PeriodKind, s: &str) -> Result<Period> {
        let p: Period = s.parse()?;
        if p.kind() == kind {
            Ok(p)
        } else {
            Err(ChartError::InvalidPeriod(s.to_string()))
        }
    }

    /// Month or year.
    pub fn kind(&self) -> PeriodKind {
        match self {
            Period::Month { .. } => PeriodKind::Month,
            Period::Year(_) => PeriodKind::Year,
        }
    }

    /// The first business day of the period.
    pub fn first_day(&self) -> NaiveDate {
        match *self {
            Period::Month { year, month } => NaiveDate::from_ymd_opt(year, month, 1),
            Period::Year(year) => NaiveDate::from_ymd_opt(year, 1, 1),
        }
        .expect("periods are constructed valid")
    }

    /// The last business day of the period (`E` in the methodology).
    pub fn last_day(&self) -> NaiveDate {
        let months = match self {
            Period::Month { .. } => 1,
            Period::Year(_) => 12,
        };
        self.first_day()
            .checked_add_months(Months::new(months))
            .and_then(|d| d.pred_opt())
            .expect("periods are within chrono's range")
    }

    /// The period just before this one (the previous month, or the previous year).
    pub fn previous(&self) -> Period {
        let day = self.first_day().pred_opt().expect("within chrono's range");
        Period::containing(self.kind(), day)
    }

    /// The directory name of the published period: `month=YYYY-MM` or `year=YYYY`.
    pub fn directory_name(&self) -> String {
        format!("{}={}", self.kind().as_str(), self)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Year(year) => write!(f, "{year:04}"),
        }
    }
}

impl FromStr for Period {
    type Err = ChartError;

    /// `YYYY-MM` is a month, `YYYY` a year (years 1900 to 9999).
    fn from_str(s: &str) -> Result<Period> {
        let invalid = || ChartError::InvalidPeriod(s.to_string());
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let year = |t: &str| -> Result<i32> {
            if t.len() != 4 || !digits(t) {
                return Err(invalid());
            }
            let y: i32 = t.parse().map_err(|_| invalid())?;
            if y < 1900 { Err(invalid()) } else { Ok(y) }
        };
        match s.split_once('-') {
            None => Ok(Period::Year(year(s)?)),
            Some((y, m)) => {
                if m.len() != 2 || !digits(m) {
                    return Err(invalid());
                }
                let month: u32 = m.parse().map_err(|_| invalid())?;
                if !(1..=12).contains(&month) {
                    return Err(invalid());
                }
                Ok(Period::Month {
                    year: year(y)?,
                    month,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_parse_and_bound() {
        let m: Period = "2024-02".parse().unwrap();
        assert_eq!(
            (m.first_day(), m.last_day()),
            (d("2024-02-01"), d("2024-02-29"))
        );
        assert_eq!(m.previous().to_string(), "2024-01");
        assert_eq!(
            "2024-01".parse::<Period>().unwrap().previous().to_string(),
            "2023-12"
        );
        let y: Period = "2024".parse().unwrap();
        assert_eq!(
            (y.first_day(), y.last_day()),
            (d("2024-01-01"), d("2024-12-31"))
        );
        assert_eq!(y.previous(), Period::Year(2023));
        assert_eq!(m.directory_name(), "month=2024-02");
        for bad in [
            "2024-13",
            "2024-1",
            "24-01",
            "2024-00",
            "abcd",
            "2024-01-01",
            "",
            "0999",
        ] {
            let err = bad.parse::<Period>().unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn methodology_ranges_are_checked() {
        assert_eq!(
            Methodology::default().validate().unwrap(),
            chrono_tz::Asia::Shanghai
        );
        let m = Methodology {
            room_cap: 0,
            ..Methodology::default()
        };
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "invalid methodology: room_cap must be >= 1, got 0"
        );
        let m = Methodology {
            timezone: "Mars/Olympus".into(),
            ..Methodology::default()
        };
        assert!(
            m.validate()
                .unwrap_err()
                .to_string()
                .contains("`Mars/Olympus`")
        );
    }
}
