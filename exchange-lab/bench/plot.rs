//! `exchange-lab bench --plot FILE.svg`: trades per second against the number of
//! processes, one line per mechanism, both axes on a log scale (the
//! mechanisms span four orders of magnitude), drawn with plotters' SVG
//! backend.
#![forbid(unsafe_code)]

use std::path::Path;

use plotters::prelude::*;

use shm_exchange::{Error, Result};

use super::Series;
use crate::stress::os_error;

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
];

/// Draws `series` into an SVG file at `path`.
pub fn draw(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    draw_chart(path, title, series)
        .map_err(|error| os_error(path.display(), "drawing", std::io::Error::other(error)))
}

fn draw_chart(path: &Path, title: &str, series: &[Series]) -> std::result::Result<(), String> {
    let points = || series.iter().flat_map(|line| line.points.iter());
    let (low, high) = points().fold((f64::MAX, f64::MIN), |(low, high), &(_, rate)| {
        (low.min(rate), high.max(rate))
    });
    if low > high || low <= 0.0 {
        return Err("nothing to plot: no positive rate was measured".into());
    }
    let most = points().map(|&(procs, _)| procs).max().unwrap_or(1).max(2);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| error.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (0.8f64..most as f64 * 1.25)
                .log_scale()
                .with_key_points(process_counts(most)),
            // Room below the slowest line for the legend.
            (low / 20.0..high * 2.0).log_scale(),
        )
        .map_err(|error| error.to_string())?;
    chart
        .configure_mesh()
        .x_desc("processes")
        .y_desc("trades per second")
        .light_line_style(BLACK.mix(0.04))
        .x_label_formatter(&|procs| format!("{procs:.0}"))
        .y_label_formatter(&|rate| si(*rate))
        .draw()
        .map_err(|error| error.to_string())?;
    for (index, line) in series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|&(procs, rate)| (procs as f64, rate))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|error| error.to_string())?
            .label(line.mechanism.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(PointSeries::of_element(
                points,
                4,
                color.filled(),
                &|at, size, style| EmptyElement::at(at) + Circle::new((0, 0), size, style),
            ))
            .map_err(|error| error.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|error| error.to_string())?;
    root.present().map_err(|error| error.to_string())
}

/// 1, 2, 4 ... up to `most`: the x axis's ticks.
fn process_counts(most: usize) -> Vec<f64> {
    std::iter::successors(Some(1usize), |procs| procs.checked_mul(2))
        .take_while(|&procs| procs <= most)
        .map(|procs| procs as f64)
        .collect()
}

/// 1.5 k, 20 M: short labels for the rate axis.
fn si(rate: f64) -> String {
    match rate {
        rate if rate >= 1e6 => format!("{:.0} M", rate / 1e6),
        rate if rate >= 1e3 => format!("{:.0} k", rate / 1e3),
        rate => format!("{rate:.0}"),
    }
}

/// Refuses a plot path that cannot be an SVG file before a minutes-long
/// run, rather than after it.
pub fn check_path(path: &Path) -> Result<()> {
    let is_svg = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("svg"));
    if !is_svg {
        return Err(Error::Os {
            address: path.display().to_string(),
            what: "choosing the plot file",
            source: std::io::Error::other("the plot is SVG: give a path ending in .svg"),
        });
    }
    Ok(())
}
