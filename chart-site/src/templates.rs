//! The page templates (minijinja, HTML escaped), the stylesheet, the icon and the live
//! page's script: built in from `chart-site/templates/`, or read from a directory so
//! that the look can change without a rebuild (a file missing there falls back to the
//! built-in one).

use std::path::Path;

use minijinja::{AutoEscape, Environment, Error, Output, State, Value};
use serde::Serialize;

use crate::error::{Result, SiteError};

/// Every template and the stylesheet, as built in.
const BUILT_IN: [(&str, &str); 11] = [
    ("base.html", include_str!("../templates/base.html")),
    ("plots.html", include_str!("../templates/plots.html")),
    ("index.html", include_str!("../templates/index.html")),
    (
        "chart_head.html",
        include_str!("../templates/chart_head.html"),
    ),
    ("chart.html", include_str!("../templates/chart.html")),
    ("song.html", include_str!("../templates/song.html")),
    ("coverage.html", include_str!("../templates/coverage.html")),
    ("live.html", include_str!("../templates/live.html")),
    ("live.js", include_str!("../templates/live.js")),
    ("style.css", include_str!("../templates/style.css")),
    ("favicon.svg", include_str!("../templates/favicon.svg")),
];

/// Files copied as they are (not rendered).
const STATIC_FILES: [&str; 3] = ["style.css", "favicon.svg", "live.js"];

/// The files copied as they are into the static site.
pub(crate) const SITE_STATIC_FILES: [&str; 2] = ["style.css", "favicon.svg"];

/// The files copied as they are beside the live pages.
pub(crate) const LIVE_STATIC_FILES: [&str; 3] = ["style.css", "favicon.svg", "live.js"];

/// The templates a site is rendered with.
pub struct Templates {
    environment: Environment<'static>,
    static_files: Vec<(&'static str, String)>,
}

impl Templates {
    /// The built-in templates.
    pub fn built_in() -> Result<Templates> {
        Templates::with(|_| Ok(None))
    }

    /// The templates of `directory`, each file missing there built in.
    pub fn from_directory(directory: &Path) -> Result<Templates> {
        Templates::with(|name| {
            let path = directory.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(SiteError::TemplateDirectory {
                    path: path.display().to_string(),
                    source,
                }),
            }
        })
    }

    fn with(mut read: impl FnMut(&str) -> Result<Option<String>>) -> Result<Templates> {
        let mut environment = Environment::new();
        environment.set_keep_trailing_newline(true);
        environment.set_formatter(html_formatter);
        let mut static_files = Vec::new();
        for (name, built_in) in BUILT_IN {
            let text = read(name)?.unwrap_or_else(|| built_in.to_string());
            if STATIC_FILES.contains(&name) {
                static_files.push((name, text));
            } else {
                environment
                    .add_template_owned(name, text)
                    .map_err(|source| SiteError::Template {
                        name: name.into(),
                        source,
                    })?;
            }
        }
        Ok(Templates {
            environment,
            static_files,
        })
    }

    /// Links every page's header to the live chart at `url` (the ingestion service's
    /// `/live/hot.html`).
    pub fn link_live(&mut self, url: &str) {
        self.environment.add_global("live_url", url.to_string());
    }

    /// Renders the template `name` with `context`.
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<String> {
        let error = |source| SiteError::Template {
            name: name.into(),
            source,
        };
        self.environment
            .get_template(name)
            .map_err(error)?
            .render(context)
            .map_err(error)
    }

    /// The files copied as they are (`style.css`, `favicon.svg`, `live.js`), with
    /// their content.
    pub fn static_files(&self) -> &[(&'static str, String)] {
        &self.static_files
    }

    /// The content of the file copied as it is named `name`.
    pub(crate) fn static_file(&self, name: &str) -> Option<&str> {
        self.static_files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_str())
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` in HTML templates (minijinja's own formatter
/// also escapes `/`, which makes every relative link `..&#x2f;`).
fn html_formatter(out: &mut Output<'_>, state: &State<'_, '_>, value: &Value) -> Result<(), Error> {
    if value.is_safe() || !matches!(state.auto_escape(), AutoEscape::Html) || value.is_none() {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = match value.as_str() {
        Some(text) => text.to_string(),
        None => value.to_string(),
    };
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    out.write_str(&escaped).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_but_slashes_are_not() {
        let mut environment = Environment::new();
        environment.set_formatter(html_formatter);
        environment
            .add_template("t.html", "<a href=\"{{ href }}\">{{ title }}</a>")
            .unwrap();
        let text = environment
            .get_template("t.html")
            .unwrap()
            .render(
                minijinja::context! { href => "../../song/a.html", title => "<b>\"R&B\" 'x'</b>" },
            )
            .unwrap();
        assert_eq!(
            text,
            "<a href=\"../../song/a.html\">&lt;b&gt;&quot;R&amp;B&quot; &#39;x&#39;&lt;/b&gt;</a>"
        );
    }
}
