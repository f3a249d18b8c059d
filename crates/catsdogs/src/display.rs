//! Inline output in evcxr notebooks, the Rust counterpart of Jupyter's `display`.
//!
//! One idea in one file (about 600 lines with its tests): what a cell shows, as PNG, HTML or text,
//! at its end or live while it runs.
//!
//! evcxr shows a value under a cell when the cell's last expression has a method
//! `evcxr_display(&self)` that prints
//! `EVCXR_BEGIN_CONTENT <mime>\n<content>\nEVCXR_END_CONTENT\n` to stdout. [`Png`] (figures and
//! images) and [`Table`] (top-5 predictions, metrics) have that method. evcxr keeps one output per
//! MIME type per cell, the last one printed, so a figure with several panels is drawn as one PNG.
//!
//! evcxr holds those outputs until the cell ends. A [`DisplayHandle`] shows its content at once
//! and redraws it in place at every update (a progress line, a figure that grows), through the
//! proxy of the "Rust (catsdogs)" kernel (`environment/kernel_proxy.py`).
//!
//! ```
//! use catsdogs::display::Table;
//! let mut table = Table::new(["class", "probability"]);
//! table.push_row(["tabby", "0.8123"]);
//! table.push_row(["Egyptian_cat", "0.1011"]);
//! assert_eq!(
//!     table.to_string(),
//!     "class         probability\n\
//!      ------------  -----------\n\
//!      tabby              0.8123\n\
//!      Egyptian_cat       0.1011\n"
//! );
//! ```

use std::fmt;
use std::io::{Cursor, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use image::RgbImage;

use crate::error::{Error, Result};
use crate::imagenet::Prediction;

/// The keyword of the PNG `tEXt` chunk in which a figure of [`crate::plot`] names its kind
/// (`history-curves`, `image-grid`, `confusion-matrix` or `grad-cam`); see [`Png::figure_kind`].
pub const FIGURE_KEYWORD: &str = "catsdogs-figure";

/// A PNG image in memory: a figure of [`crate::plot`] or an image to look at.
///
/// As the last expression of a notebook cell it is shown under the cell.
///
/// ```
/// let image = image::RgbImage::from_pixel(4, 3, image::Rgb([255, 0, 0]));
/// let png = catsdogs::display::Png::from_rgb(&image).unwrap();
/// assert_eq!(png.dimensions(), (4, 3));
/// assert!(png.bytes().starts_with(b"\x89PNG"));
/// assert_eq!(png.figure_kind(), None);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Png {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
}

impl Png {
    /// Encodes an RGB image as PNG.
    pub fn from_rgb(image: &RgbImage) -> Result<Png> {
        encode(image, None)
    }

    /// Encodes a figure, naming its `kind` in a `tEXt` chunk under [`FIGURE_KEYWORD`].
    pub(crate) fn figure(image: &RgbImage, kind: &str) -> Result<Png> {
        encode(image, Some(kind))
    }

    /// The encoded PNG file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Width and height in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The kind of figure this is (e.g. `history-curves`), read back from its `tEXt` chunk;
    /// `None` for an image that is not a figure of [`crate::plot`].
    pub fn figure_kind(&self) -> Option<String> {
        let reader = png::Decoder::new(Cursor::new(&self.bytes))
            .read_info()
            .ok()?;
        let text = &reader.info().uncompressed_latin1_text;
        text.iter()
            .find(|chunk| chunk.keyword == FIGURE_KEYWORD)
            .map(|chunk| chunk.text.clone())
    }

    /// Writes the PNG file to `path`, atomically; creates the folder if needed.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::fsutil::write_atomic(path.as_ref(), &self.bytes)
    }

    /// Shows the image under the notebook cell; evcxr calls this for a cell's last expression.
    pub fn evcxr_display(&self) {
        emit(&evcxr_blocks(self));
    }

    /// Shows the image now, in the middle of a cell: in the "Rust (catsdogs)" kernel as a
    /// display of its own, under plain evcxr when the cell ends (one image per cell: the last
    /// one shown). Outside a notebook it prints one line that says what the image is, since a
    /// terminal cannot show it: [`Png::save`] it there instead.
    pub fn show(&self) {
        if live() {
            DisplayHandle::new().update(self);
        } else if crate::console::is_notebook() {
            self.evcxr_display();
        } else {
            emit(&format!("{self:?} (save it to a file to look at it)\n"));
        }
    }
}

impl MimeBundle for Png {
    fn mime_bundle(&self) -> Vec<(&'static str, String)> {
        let base64 = base64::engine::general_purpose::STANDARD.encode(&self.bytes);
        vec![("image/png", base64)]
    }
}

impl fmt::Debug for Png {
    /// `Png(1200x450, history-curves, 48213 bytes)`, without the bytes themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Png({}x{}, ", self.width, self.height)?;
        if let Some(kind) = self.figure_kind() {
            write!(f, "{kind}, ")?;
        }
        write!(f, "{} bytes)", self.bytes.len())
    }
}

fn encode(image: &RgbImage, kind: Option<&str>) -> Result<Png> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(Error::EmptyImage { width, height });
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    if let Some(kind) = kind {
        encoder.add_text_chunk(FIGURE_KEYWORD.to_string(), kind.to_string())?;
    }
    let mut writer = encoder.write_header()?;
    writer.write_image_data(image.as_raw())?;
    writer.finish()?;
    Ok(Png {
        bytes,
        width,
        height,
    })
}

/// What a cell can show: the same thing in one or more MIME types, the richest first
/// (`image/png` as base64, `text/html`, `text/plain`), as Jupyter's display messages carry it.
/// [`Png`], [`Html`] and [`Table`] have theirs.
///
/// ```
/// use catsdogs::display::{Html, MimeBundle};
/// let bundle = Html::new("<b>hi</b>", "hi").mime_bundle();
/// assert_eq!(bundle, [("text/html", "<b>hi</b>".to_string()), ("text/plain", "hi".to_string())]);
/// ```
pub trait MimeBundle {
    /// (MIME type, content) pairs.
    fn mime_bundle(&self) -> Vec<(&'static str, String)>;
}

/// The outputs for evcxr, in its protocol: one block per MIME type.
fn evcxr_blocks(content: &impl MimeBundle) -> String {
    content
        .mime_bundle()
        .into_iter()
        .map(|(mime, text)| format!("EVCXR_BEGIN_CONTENT {mime}\n{text}\nEVCXR_END_CONTENT\n"))
        .collect()
}

/// What starts a live display's line on stdout: `CATSDOGS_LIVE_DISPLAY <id> <bundle as JSON>`,
/// which the kernel's proxy turns into a display (the first time) or its update.
const LIVE_MARK: &str = "CATSDOGS_LIVE_DISPLAY";

/// Whether displays update in place here: in the "Rust (catsdogs)" kernel, whose launcher sets
/// `CATSDOGS_LIVE_DISPLAY=1` for the proxy that understands them.
pub fn live() -> bool {
    crate::console::is_notebook()
        && std::env::var_os("CATSDOGS_LIVE_DISPLAY").is_some_and(|v| v == "1")
}

/// A display that redraws in place, IPython's `display(..., display_id=True)`: the first
/// [`update`](DisplayHandle::update) shows its content under the cell at once, each later one
/// replaces it. For live progress or a figure that grows, from a cell's own loop too:
///
/// ```
/// use catsdogs::display::{DisplayHandle, Html};
/// let progress = DisplayHandle::new();
/// for step in 1..=3 {
///     progress.update(&Html::new(format!("<progress value={step} max=3></progress>"), format!("step {step}/3")));
/// }
/// ```
///
/// That is in the "Rust (catsdogs)" kernel ([`live`]). Elsewhere (the CLI, a terminal, evcxr
/// without the kernel's proxy) an update prints the content's plain text as a line, if it has
/// one, and nothing otherwise.
#[derive(Debug)]
pub struct DisplayHandle {
    id: String,
}

impl DisplayHandle {
    /// A display with an id of its own, shown at its first update.
    pub fn new() -> DisplayHandle {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        DisplayHandle {
            id: format!("catsdogs-{}-{nanos:x}-{n}", std::process::id()),
        }
    }

    /// The display's id (Jupyter's `display_id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Shows `content` in place of what the display showed before.
    pub fn update(&self, content: &impl MimeBundle) {
        emit(&self.output(content, live()));
    }

    /// What an update prints: the marked line for the proxy when `live`, the plain text
    /// otherwise.
    fn output(&self, content: &impl MimeBundle, live: bool) -> String {
        let bundle = content.mime_bundle();
        if live {
            let json: serde_json::Map<String, serde_json::Value> = bundle
                .into_iter()
                .map(|(mime, text)| (mime.to_string(), text.into()))
                .collect();
            format!(
                "{LIVE_MARK} {} {}\n",
                self.id,
                serde_json::Value::Object(json)
            )
        } else {
            bundle
                .into_iter()
                .find(|(mime, _)| *mime == "text/plain")
                .map_or_else(String::new, |(_, text)| text + "\n")
        }
    }
}

impl Default for DisplayHandle {
    fn default() -> DisplayHandle {
        DisplayHandle::new()
    }
}

/// Prints `text` to stdout at once. Display is best effort: with stdout closed there is no one
/// to show anything to, so a failed write is ignored.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// HTML with its plain-text equivalent: shows as HTML in JupyterLab, and as the text where HTML
/// cannot be shown (a terminal, a text-only reader of the notebook).
///
/// ```
/// let note = catsdogs::display::Html::new("<b>hello</b>", "hello");
/// assert_eq!(note.to_string(), "hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Html {
    html: String,
    text: String,
}

impl Html {
    /// The HTML and the plain text that says the same.
    pub fn new(html: impl Into<String>, text: impl Into<String>) -> Html {
        Html {
            html: html.into(),
            text: text.into(),
        }
    }

    /// Shows the HTML under the notebook cell; evcxr calls this for a cell's last expression.
    pub fn evcxr_display(&self) {
        emit(&evcxr_blocks(self));
    }
}

impl MimeBundle for Html {
    fn mime_bundle(&self) -> Vec<(&'static str, String)> {
        vec![
            ("text/html", self.html.clone()),
            ("text/plain", self.text.trim_end().to_string()),
        ]
    }
}

impl fmt::Display for Html {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A small table of strings: a header and rows. In a notebook it shows as an HTML table (and
/// as plain text for text-only readers of the notebook); [`fmt::Display`] prints it as aligned
/// plain text, where columns of numbers are right-aligned.
///
/// Rows may be shorter than the header (the missing cells are empty) or longer (the extra
/// columns get an empty heading).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings and no rows yet.
    pub fn new<S: ToString>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push_row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows
            .push(cells.into_iter().map(|s| s.to_string()).collect());
    }

    /// The table as an HTML `<table>`, with the cells escaped.
    pub fn html(&self) -> String {
        let columns = self.columns();
        let mut html = String::from("<table>\n<thead><tr>");
        for c in 0..columns {
            html.push_str(&format!("<th>{}</th>", escape_html(cell(&self.header, c))));
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            html.push_str("<tr>");
            for c in 0..columns {
                html.push_str(&format!("<td>{}</td>", escape_html(cell(row, c))));
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</tbody>\n</table>");
        html
    }

    /// Shows the table under the notebook cell, as HTML and as plain text; evcxr calls this for
    /// a cell's last expression.
    pub fn evcxr_display(&self) {
        emit(&evcxr_blocks(self));
    }

    fn columns(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0)
    }
}

impl MimeBundle for Table {
    fn mime_bundle(&self) -> Vec<(&'static str, String)> {
        Html::new(self.html(), self.to_string()).mime_bundle()
    }
}

impl fmt::Display for Table {
    /// Columns two spaces apart, a line of dashes under the header, numbers right-aligned.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.columns();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .chain([&self.header])
                    .map(|row| cell(row, c).chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..columns)
            .map(|c| !self.rows.is_empty() && self.rows.iter().all(|row| is_number(cell(row, c))))
            .collect();
        let dashes: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        let mut write_row = |row: &[String]| {
            let mut line = String::new();
            for c in 0..columns {
                if c > 0 {
                    line.push_str("  ");
                }
                let (text, width) = (cell(row, c), widths[c]);
                if numeric[c] {
                    line.push_str(&format!("{text:>width$}"));
                } else {
                    line.push_str(&format!("{text:<width$}"));
                }
            }
            writeln!(f, "{}", line.trim_end())
        };
        write_row(&self.header)?;
        write_row(&dashes)?;
        self.rows.iter().try_for_each(|row| write_row(row))
    }
}

fn cell(row: &[String], column: usize) -> &str {
    row.get(column).map_or("", String::as_str)
}

fn is_number(text: &str) -> bool {
    let text = text.strip_suffix('%').unwrap_or(text);
    text.parse::<f64>().is_ok()
}

pub(crate) fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// One image's top predictions as a table (rank, class, WordNet id, probability), for a notebook.
///
/// ```
/// use catsdogs::display::predictions_table;
/// use catsdogs::imagenet::Prediction;
/// let top = [Prediction { index: 199, wnid: "n02097298".into(), name: "Scotch_terrier".into(), probability: 0.84 }];
/// assert!(predictions_table(&top).to_string().contains("Scotch_terrier"));
/// ```
pub fn predictions_table(predictions: &[Prediction]) -> Table {
    let mut table = Table::new(["rank", "class", "wnid", "probability"]);
    for (rank, p) in predictions.iter().enumerate() {
        table.push_row([
            (rank + 1).to_string(),
            p.name.clone(),
            p.wnid.clone(),
            format!("{:.4}", p.probability),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut table = Table::new(["label", "p"]);
        table.push_row(["cat <&>", "0.25"]);
        table.push_row(["dog", "12.5%", "extra"]);
        table
    }

    #[test]
    fn plain_text_pads_short_rows_and_heads_extra_columns() {
        assert_eq!(
            table().to_string(),
            "label        p\n\
             -------  -----  -----\n\
             cat <&>   0.25\n\
             dog      12.5%  extra\n"
        );
    }

    #[test]
    fn html_escapes_cells_and_fills_missing_ones() {
        assert_eq!(
            table().html(),
            "<table>\n<thead><tr><th>label</th><th>p</th><th></th></tr></thead>\n<tbody>\n\
             <tr><td>cat &lt;&amp;&gt;</td><td>0.25</td><td></td></tr>\n\
             <tr><td>dog</td><td>12.5%</td><td>extra</td></tr>\n</tbody>\n</table>"
        );
    }

    #[test]
    fn table_shows_as_html_then_plain_text() {
        let mut table = Table::new(["a"]);
        table.push_row(["x"]);
        assert_eq!(
            evcxr_blocks(&table),
            "EVCXR_BEGIN_CONTENT text/html\n\
             <table>\n<thead><tr><th>a</th></tr></thead>\n<tbody>\n<tr><td>x</td></tr>\n</tbody>\n</table>\n\
             EVCXR_END_CONTENT\n\
             EVCXR_BEGIN_CONTENT text/plain\na\n-\nx\nEVCXR_END_CONTENT\n"
        );
    }

    #[test]
    fn a_table_without_rows_has_header_and_dashes() {
        assert_eq!(
            Table::new(["epoch", "acc"]).to_string(),
            "epoch  acc\n-----  ---\n"
        );
        assert_eq!(Table::default().to_string(), "\n\n");
    }

    #[test]
    fn png_round_trips_pixels_and_figure_kind() {
        let mut image = RgbImage::from_pixel(3, 2, image::Rgb([10, 20, 30]));
        image.put_pixel(2, 1, image::Rgb([200, 100, 0]));
        let png = Png::figure(&image, "image-grid").unwrap();
        assert_eq!(png.figure_kind().as_deref(), Some("image-grid"));
        let decoded = image::load_from_memory(png.bytes()).unwrap().to_rgb8();
        assert_eq!(decoded, image);
        assert_eq!(
            format!("{png:?}"),
            format!("Png(3x2, image-grid, {} bytes)", png.bytes().len())
        );
    }

    #[test]
    fn png_shows_as_base64_between_markers() {
        let png = Png::from_rgb(&RgbImage::new(1, 1)).unwrap();
        let blocks = evcxr_blocks(&png);
        let content = blocks
            .strip_prefix("EVCXR_BEGIN_CONTENT image/png\n")
            .and_then(|rest| rest.strip_suffix("\nEVCXR_END_CONTENT\n"))
            .expect("one image/png block");
        let decoded = base64::engine::general_purpose::STANDARD.decode(content);
        assert_eq!(decoded.unwrap(), png.bytes());
    }

    #[test]
    fn a_live_update_is_one_marked_line_with_the_bundle_as_json() {
        let handle = DisplayHandle::new();
        let line = handle.output(&Html::new("<b>a\nb</b>", "a \"b\""), true);
        let rest = line
            .strip_prefix(&format!("CATSDOGS_LIVE_DISPLAY {} ", handle.id()))
            .and_then(|rest| rest.strip_suffix('\n'))
            .expect("the mark, the id, the bundle and one newline");
        assert!(!rest.contains('\n'));
        let bundle: serde_json::Value = serde_json::from_str(rest).unwrap();
        assert_eq!(
            bundle,
            serde_json::json!({"text/html": "<b>a\nb</b>", "text/plain": "a \"b\""})
        );
        assert!(!handle.id().contains(' '));
        assert_ne!(handle.id(), DisplayHandle::new().id());
    }

    #[test]
    fn elsewhere_an_update_prints_the_plain_text_or_nothing() {
        let handle = DisplayHandle::default();
        assert_eq!(handle.output(&Html::new("<i>x</i>", "x "), false), "x\n");
        let png = Png::from_rgb(&RgbImage::new(1, 1)).unwrap();
        assert_eq!(handle.output(&png, false), "");
        let live = handle.output(&png, true);
        assert!(
            live.starts_with("CATSDOGS_LIVE_DISPLAY catsdogs-")
                && live.contains("\"image/png\":\"iVBOR")
        );
    }

    #[test]
    fn an_empty_image_is_an_error_not_a_panic() {
        let err = Png::from_rgb(&RgbImage::new(0, 5)).unwrap_err();
        assert!(matches!(
            err,
            Error::EmptyImage {
                width: 0,
                height: 5
            }
        ));
        assert!(err
            .to_string()
            .starts_with("cannot encode a 0x5 image as PNG"));
    }

    #[test]
    fn save_writes_the_png_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("figures/one.png");
        let png = Png::from_rgb(&RgbImage::new(2, 2)).unwrap();
        png.save(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), png.bytes());
    }
}
