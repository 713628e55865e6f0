//! The one table renderer: replies, `exchange-init --status`, the watch
//! board and the bench table all line their columns up with [`Table`], so
//! every table the project prints pads, aligns and colours the same way.
#![forbid(unsafe_code)]

/// What a piece of text means, and so how it is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Column headers and the prompt: bold.
    Header,
    /// Secondary text (zero holdings, examples, hints): dim.
    Dim,
    /// A profit, a buy, a consistent audit: green.
    Gain,
    /// A loss, a sell, an inconsistent audit: red.
    Loss,
    /// The word `error:`: bold red.
    Error,
}

impl Paint {
    fn sgr(self) -> &'static str {
        match self {
            Paint::Header => "1",
            Paint::Dim => "2",
            Paint::Gain => "32",
            Paint::Loss => "31",
            Paint::Error => "1;31",
        }
    }
}

/// `text` wrapped in the ANSI codes for `paint` when `colour` is on, else
/// unchanged.
pub fn paint(text: &str, paint: Paint, colour: bool) -> String {
    if colour && !text.is_empty() {
        format!("\x1b[{}m{text}\x1b[0m", paint.sgr())
    } else {
        text.to_owned()
    }
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One cell: its text and how to colour it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    text: String,
    paint: Option<Paint>,
}

impl Cell {
    /// A cell without colour.
    pub fn plain(text: impl ToString) -> Cell {
        Cell::painted(text, None)
    }

    /// A cell coloured as `paint` when the table is rendered with colour.
    pub fn painted(text: impl ToString, paint: Option<Paint>) -> Cell {
        Cell {
            text: text.to_string(),
            paint,
        }
    }
}

/// Columns sized to their widest cell, two spaces apart, with trailing
/// spaces trimmed. Padding is added outside the colour codes, so colour
/// never breaks the alignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column headers; empty for a table without a header line.
    headers: Vec<&'static str>,
    aligns: Vec<Align>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with a bold header line.
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|(header, _)| *header).collect(),
            aligns: columns.iter().map(|(_, align)| *align).collect(),
            rows: Vec::new(),
        }
    }

    /// A table of columns aligned as `aligns`, without a header line.
    pub fn without_header(aligns: &[Align]) -> Table {
        Table {
            headers: Vec::new(),
            aligns: aligns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row: one cell a column.
    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.aligns.len());
        self.rows.push(cells);
    }

    /// The table as lines joined by `\n`, without a trailing newline.
    pub fn render(&self, colour: bool) -> String {
        let mut widths: Vec<usize> = (0..self.aligns.len())
            .map(|column| self.headers.get(column).map_or(0, |header| header.len()))
            .collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.text.chars().count());
            }
        }
        let mut lines = Vec::with_capacity(self.rows.len() + 1);
        if !self.headers.is_empty() {
            let header: Vec<Cell> = self
                .headers
                .iter()
                .map(|header| Cell::painted(header, Some(Paint::Header)))
                .collect();
            lines.push(self.line(&header, &widths, colour));
        }
        for row in &self.rows {
            lines.push(self.line(row, &widths, colour));
        }
        lines.join("\n")
    }

    fn line(&self, cells: &[Cell], widths: &[usize], colour: bool) -> String {
        let mut line = String::new();
        for (index, ((cell, width), align)) in
            cells.iter().zip(widths).zip(&self.aligns).enumerate()
        {
            if index > 0 {
                line.push_str("  ");
            }
            let padding = " ".repeat(width.saturating_sub(cell.text.chars().count()));
            let text = match cell.paint {
                Some(paint_as) => paint(&cell.text, paint_as, colour),
                None => cell.text.clone(),
            };
            match align {
                Align::Left => {
                    line.push_str(&text);
                    line.push_str(&padding);
                }
                Align::Right => {
                    line.push_str(&padding);
                    line.push_str(&text);
                }
            }
        }
        line.truncate(line.trim_end().len());
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_two_spaces_apart_without_trailing_spaces() {
        let mut table = Table::without_header(&[Align::Left, Align::Right, Align::Left]);
        table.row(vec![
            Cell::plain("a long label"),
            Cell::plain(1),
            Cell::plain(""),
        ]);
        table.row(vec![
            Cell::plain("short"),
            Cell::plain(1234),
            Cell::plain("note"),
        ]);
        assert_eq!(
            table.render(false),
            "a long label     1\n\
             short         1234  note"
        );
    }

    #[test]
    fn headers_are_bold_and_colour_keeps_the_padding_outside() {
        let mut table = Table::new(&[("NAME", Align::Left), ("N", Align::Right)]);
        table.row(vec![Cell::painted("x", Some(Paint::Loss)), Cell::plain(10)]);
        assert_eq!(table.render(false), "NAME   N\nx     10");
        assert_eq!(
            table.render(true),
            "\x1b[1mNAME\x1b[0m   \x1b[1mN\x1b[0m\n\x1b[31mx\x1b[0m     10"
        );
    }
}
