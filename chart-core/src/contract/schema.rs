//! The data contract: the input tables, the columns GM-1 and D-1 read and the
//! physical types a file may use for them. `plays`, `songs` and `venues` are required
//! in every data root; `fees` only by the distribution of licence fees.
//!
//! Files may carry extra columns and may store strings as `Utf8`, `LargeUtf8`,
//! `Utf8View` or dictionary-encoded strings; they are read through the
//! canonical schemas below.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{ChartError, Result};

/// The logical type of a contract column and the physical types accepted for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A string: `Utf8`, `LargeUtf8`, `Utf8View` or a dictionary of those.
    String,
    /// A UTC instant: `Timestamp(_, "UTC")`, any unit.
    TimestampUtc,
    /// `Int32`.
    Int32,
    /// `Int64`.
    Int64,
    /// `Date32`.
    Date32,
}

impl ColumnType {
    /// The canonical Arrow type a table exposes for this column.
    pub fn canonical(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::TimestampUtc => {
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            }
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Date32 => DataType::Date32,
        }
    }

    /// Human-readable list of accepted physical types, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            ColumnType::String => "Utf8, LargeUtf8, Utf8View or a dictionary of strings",
            ColumnType::TimestampUtc => "Timestamp with time zone UTC",
            ColumnType::Int32 => "Int32",
            ColumnType::Int64 => "Int64",
            ColumnType::Date32 => "Date32",
        }
    }

    /// Whether a file's physical type can be read as this column.
    pub fn accepts(self, data_type: &DataType) -> bool {
        match (self, data_type) {
            (ColumnType::String, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => true,
            (ColumnType::String, DataType::Dictionary(_, value)) => matches!(
                value.as_ref(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ),
            (ColumnType::TimestampUtc, DataType::Timestamp(_, Some(tz))) => {
                matches!(tz.as_ref(), "UTC" | "+00:00" | "Z" | "Etc/UTC")
            }
            (ColumnType::Int32, DataType::Int32)
            | (ColumnType::Int64, DataType::Int64)
            | (ColumnType::Date32, DataType::Date32) => true,
            _ => false,
        }
    }
}

/// One column of the data contract.
#[derive(Debug, Clone, Copy)]
pub struct ContractColumn {
    /// Column name.
    pub name: &'static str,
    /// Its type.
    pub column_type: ColumnType,
    /// Whether nulls are allowed by the contract.
    pub nullable: bool,
}

const fn column(name: &'static str, column_type: ColumnType, nullable: bool) -> ContractColumn {
    ContractColumn {
        name,
        column_type,
        nullable,
    }
}

/// One input table of the data contract.
#[derive(Debug, Clone, Copy)]
pub struct ContractTable {
    /// The table (and directory) name.
    pub name: &'static str,
    /// Its columns, in canonical order.
    pub columns: &'static [ContractColumn],
}

impl ContractTable {
    /// The canonical Arrow schema of the table's files (without partition columns).
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(c.name, c.column_type.canonical(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Checks a file's schema against the contract: every column present with an accepted type.
    pub fn check_file_schema(&self, file: &Path, schema: &Schema) -> Result<()> {
        self.check_schema(&file.display().to_string(), schema)
    }

    /// Checks the schema of `input` (a file, or in-memory data) against the contract;
    /// errors name `input`.
    pub fn check_schema(&self, input: &str, schema: &Schema) -> Result<()> {
        for c in self.columns {
            let field = schema
                .field_with_name(c.name)
                .map_err(|_| ChartError::MissingColumn {
                    input: input.to_string(),
                    table: self.name,
                    column: c.name,
                })?;
            if !c.column_type.accepts(field.data_type()) {
                return Err(ChartError::ColumnType {
                    input: input.to_string(),
                    column: c.name,
                    found: field.data_type().to_string(),
                    expected: c.column_type.expected(),
                });
            }
        }
        Ok(())
    }
}

/// `plays/date=YYYY-MM-DD/*.parquet`: one row per play event.
pub const PLAYS: ContractTable = ContractTable {
    name: "plays",
    columns: &[
        column("event_id", ColumnType::String, false),
        column("venue_id", ColumnType::String, false),
        column("room_id", ColumnType::String, false),
        column("song_id", ColumnType::String, false),
        column("started_at", ColumnType::TimestampUtc, false),
        column("played_ms", ColumnType::Int32, false),
        column("vod_vendor", ColumnType::String, true),
    ],
};

/// `songs/*.parquet`: the licensed catalogue.
pub const SONGS: ContractTable = ContractTable {
    name: "songs",
    columns: &[
        column("song_id", ColumnType::String, false),
        column("title", ColumnType::String, false),
        column("artist", ColumnType::String, false),
        column("release_date", ColumnType::Date32, true),
        column("rights_holder_id", ColumnType::String, true),
        column("language", ColumnType::String, true),
    ],
};

/// `venues/*.parquet`: the venue register.
pub const VENUES: ContractTable = ContractTable {
    name: "venues",
    columns: &[
        column("venue_id", ColumnType::String, false),
        column("name", ColumnType::String, false),
        column("province", ColumnType::String, false),
        column("city", ColumnType::String, false),
        column("rooms", ColumnType::Int32, false),
        column("licensed_since", ColumnType::Date32, true),
        column("connected_on", ColumnType::Date32, true),
    ],
};

/// `fees/*.parquet`: licence fees collected, one row per venue, month and business
/// line (amounts in fen, the yuan's hundredth: integers, never floating point).
pub const FEES: ContractTable = ContractTable {
    name: "fees",
    columns: &[
        column("venue_id", ColumnType::String, false),
        column("period", ColumnType::String, false),
        column("business_line", ColumnType::String, false),
        column("amount_fen", ColumnType::Int64, false),
        column("collected_on", ColumnType::Date32, true),
    ],
};

/// The input tables every data root has.
pub const TABLES: [ContractTable; 3] = [PLAYS, SONGS, VENUES];

/// The input tables a data root may have: listed and checked when present.
pub const OPTIONAL_TABLES: [ContractTable; 1] = [FEES];

/// Name of the partition column of `plays` (the business date, `Date32`).
pub const PLAYS_PARTITION_COLUMN: &str = "date";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_columns_accept_every_contract_encoding() {
        let dict = |v: DataType| DataType::Dictionary(Box::new(DataType::Int32), Box::new(v));
        for t in [
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Utf8View,
            dict(DataType::Utf8),
            dict(DataType::LargeUtf8),
        ] {
            assert!(ColumnType::String.accepts(&t), "{t}");
        }
        assert!(!ColumnType::String.accepts(&DataType::Int32));
        assert!(!ColumnType::String.accepts(&dict(DataType::Int64)));
        let ts = |tz: Option<&str>| DataType::Timestamp(TimeUnit::Microsecond, tz.map(Into::into));
        assert!(ColumnType::TimestampUtc.accepts(&ts(Some("UTC"))));
        assert!(!ColumnType::TimestampUtc.accepts(&ts(None)));
        assert!(!ColumnType::TimestampUtc.accepts(&ts(Some("Asia/Shanghai"))));
    }

    #[test]
    fn missing_and_mistyped_columns_are_named() {
        let file = Path::new("plays/date=2024-11-01/a.parquet");
        let mut fields: Vec<Field> = PLAYS
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.retain(|f| f.name() != "song_id");
        let err = PLAYS
            .check_file_schema(file, &Schema::new(fields.clone()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "plays/date=2024-11-01/a.parquet: missing column `song_id` required by table plays"
        );
        fields.push(Field::new("song_id", DataType::Int64, false));
        let err = PLAYS
            .check_file_schema(file, &Schema::new(fields))
            .unwrap_err();
        assert!(
            err.to_string().contains("column `song_id` has type Int64"),
            "{err}"
        );
    }
}
