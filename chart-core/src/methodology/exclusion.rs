//! GM-1's exclusion rules: why a play event does not count, each rule stated once.
//!
//! The rules are checked in the order of [`Exclusion::ALL`] and the first that
//! matches wins. The SQL computes that order with `LEAST` over the rules' ranks:
//! `exclusion_rank('short_play')` is a rule's rank, folded to a literal at planning,
//! and `exclusion_rank('none')` the rank of an event no rule excludes
//! ([`NO_EXCLUSION_RANK`], after every rule); `exclusion_name(rank)` is the rule's
//! name, the `exclusion` column of `classified_plays` (NULL for a valid play). The day
//! digests keep the same ranks in Rust.

use std::fmt;

/// A reason a play event does not count towards the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exclusion {
    /// A required column (`event_id`, `venue_id`, `room_id`, `song_id`, `started_at`,
    /// `played_ms`) is NULL.
    MissingValue,
    /// Played for less than the methodology's `min_played_ms`.
    ShortPlay,
    /// The song is not in `songs`.
    UnknownSong,
    /// The venue is not in `venues`.
    UnknownVenue,
}

/// The rank of an event that no rule excludes: after every rule's.
pub const NO_EXCLUSION_RANK: u8 = Exclusion::ALL.len() as u8 + 1;

/// The rank of the first rule an event fails among those on the play alone
/// (`checked_plays.first_rule`): missing_value when a required column is NULL
/// (`complete` false), then short_play; [`NO_EXCLUSION_RANK`] when neither.
pub(crate) fn rank_on_the_play_alone(complete: bool, played_ms: i32, min_played_ms: i32) -> u8 {
    if !complete {
        Exclusion::MissingValue.rank()
    } else if played_ms < min_played_ms {
        Exclusion::ShortPlay.rank()
    } else {
        NO_EXCLUSION_RANK
    }
}

impl Exclusion {
    /// Every rule, in the order they are checked.
    pub const ALL: [Exclusion; 4] = [
        Exclusion::MissingValue,
        Exclusion::ShortPlay,
        Exclusion::UnknownSong,
        Exclusion::UnknownVenue,
    ];

    /// The name of the rule in outputs (`classified_plays.exclusion`, data quality).
    pub fn name(self) -> &'static str {
        match self {
            Exclusion::MissingValue => "missing_value",
            Exclusion::ShortPlay => "short_play",
            Exclusion::UnknownSong => "unknown_song",
            Exclusion::UnknownVenue => "unknown_venue",
        }
    }

    /// The rule's rank: its place in [`Exclusion::ALL`], from 1.
    pub fn rank(self) -> u8 {
        self as u8 + 1
    }

    /// The rule of a rank (`None` for [`NO_EXCLUSION_RANK`] or any other number).
    pub fn from_rank(rank: u8) -> Option<Exclusion> {
        Exclusion::ALL
            .get(usize::from(rank).checked_sub(1)?)
            .copied()
    }

    /// The rule of a name.
    pub fn from_name(name: &str) -> Option<Exclusion> {
        Exclusion::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether the rule needs the catalogue (`songs`) or the venue register
    /// (`venues`): such rules are checked after the lookups, the others on the plays
    /// alone (`checked_plays`, and each day digest).
    pub fn needs_lookup(self) -> bool {
        matches!(self, Exclusion::UnknownSong | Exclusion::UnknownVenue)
    }
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_names_round_trip_in_order() {
        for (i, rule) in Exclusion::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(rule.rank()), i + 1);
            assert_eq!(Exclusion::from_rank(rule.rank()), Some(rule));
            assert_eq!(Exclusion::from_name(rule.name()), Some(rule));
        }
        assert_eq!(NO_EXCLUSION_RANK, 5);
        assert_eq!(Exclusion::from_rank(NO_EXCLUSION_RANK), None);
        assert_eq!(Exclusion::from_rank(0), None);
        assert_eq!(Exclusion::from_name("none"), None);
        // The rules on the plays alone come before those that need a lookup.
        let lookups: Vec<bool> = Exclusion::ALL.iter().map(|e| e.needs_lookup()).collect();
        assert_eq!(lookups, [false, false, true, true]);
    }
}
