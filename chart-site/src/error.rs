//! What can go wrong while rendering a site: one line naming the file, template or
//! location, with the source kept.

use chart_core::ChartError;

/// Errors of [`crate::render_site`].
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// Reading the publication root or writing the site failed.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// A published file is missing or is not what the publication writes.
    #[error("{file}: {problem}")]
    Published {
        /// The file, as a location.
        file: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Nothing is published under the root.
    #[error(
        "{out}: no published charts (under charts/month=… or charts/year=…); run chart-job publish first"
    )]
    NothingPublished {
        /// The publication root.
        out: String,
    },
    /// A template does not parse or does not render.
    #[error("template {name}: {source}")]
    Template {
        /// The template's file name.
        name: String,
        /// What minijinja reported.
        #[source]
        source: minijinja::Error,
    },
    /// A template directory given to override the built-in templates cannot be read.
    #[error("{path}: {source}")]
    TemplateDirectory {
        /// The file that could not be read.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`SiteError`].
pub type Result<T, E = SiteError> = std::result::Result<T, E>;
