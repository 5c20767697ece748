//! Benchmarks of the Golden Mic chart computation live in `benches/`; this library
//! holds their shared set-up.
#![warn(missing_docs)]

use std::path::Path;

/// Generates `plays_per_month` plays for one month (2024-11) with a catalogue of
/// `catalogue` songs into `root`.
pub fn generate_month(root: &Path, plays_per_month: usize, catalogue: usize) {
    let spec = sample_data::SampleSpec {
        plays_per_month,
        catalogue_size: catalogue,
        first_month: chrono_month(2024, 11),
        months: 1,
        ..sample_data::SampleSpec::default()
    };
    sample_data::generate(&spec, root).expect("sample data is written");
}

fn chrono_month(year: i32, month: u32) -> sample_data::NaiveDate {
    sample_data::NaiveDate::from_ymd_opt(year, month, 1).expect("valid month")
}
