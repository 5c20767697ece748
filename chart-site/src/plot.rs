//! Plots as SVG geometry: coordinates, ticks and labels computed here, drawn by the
//! templates (`plots.html`), so that a page needs no script and renders the same
//! bytes every time.

use serde::Serialize;

/// Plot area: the whole drawing and the margins around the axes.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// A line plot over periods (the x axis), one line per series.
#[derive(Debug, Clone, Serialize)]
pub struct LinePlot {
    /// Width of the drawing (its `viewBox`).
    pub width: f64,
    /// Height of the drawing.
    pub height: f64,
    /// What the plot shows, for screen readers (`aria-label`).
    pub label: String,
    /// The axes' corners: left, top, right, bottom.
    pub left: f64,
    /// See `left`.
    pub top: f64,
    /// See `left`.
    pub right: f64,
    /// See `left`.
    pub bottom: f64,
    /// The periods, with their x position.
    pub x_ticks: Vec<Tick>,
    /// Values on the y axis, with their y position.
    pub y_ticks: Vec<Tick>,
    /// The lines.
    pub series: Vec<Series>,
}

/// A labelled position on an axis.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    /// x or y, in drawing units.
    pub at: String,
    /// The label.
    pub label: String,
}

/// One line of a plot.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// Its CSS class (its colour).
    pub class: String,
    /// The SVG path through its points; a gap where a value is missing.
    pub path: String,
    /// Its points, one per period with a value.
    pub points: Vec<Point>,
}

/// A point of a series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// x in drawing units.
    pub x: String,
    /// y in drawing units.
    pub y: String,
    /// The period.
    pub period: String,
    /// The value as shown.
    pub value: String,
}

/// Where the y axis puts a value.
#[derive(Debug, Clone, Copy)]
enum Scale {
    /// Rank 1 at the top, `max` at the bottom.
    Rank { max: u32 },
    /// 0 at the bottom, `max` at the top.
    Count { max: i64 },
}

impl Scale {
    fn y(self, value: i64) -> f64 {
        let share = match self {
            Scale::Rank { max } if max > 1 => (value - 1) as f64 / (max - 1) as f64,
            Scale::Rank { .. } => 0.0,
            Scale::Count { max } => 1.0 - value as f64 / max.max(1) as f64,
        };
        TOP + share * (HEIGHT - TOP - BOTTOM)
    }

    fn ticks(self) -> Vec<i64> {
        match self {
            Scale::Rank { max } => {
                let step = nice_step(i64::from(max) / 4);
                std::iter::once(1)
                    .chain((1..).map(|i| i * step).take_while(|&r| r <= i64::from(max)))
                    .collect()
            }
            Scale::Count { max } => {
                let step = nice_step(max / 4);
                (0..).map(|i| i * step).take_while(|&v| v <= max).collect()
            }
        }
    }
}

/// The rank history of a song: one series per chart, a point per period charted.
pub fn rank_plot(
    label: String,
    periods: &[String],
    series: Vec<SeriesValues>,
    max_rank: u32,
) -> LinePlot {
    line_plot(
        label,
        periods,
        series,
        Scale::Rank {
            max: max_rank.max(1),
        },
    )
}

/// Counts by period (connected venues, rooms), from 0.
pub fn count_plot(label: String, periods: &[String], series: Vec<SeriesValues>) -> LinePlot {
    let largest = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .max()
        .unwrap_or(0);
    let max = round_up(largest);
    line_plot(label, periods, series, Scale::Count { max })
}

/// The values of one series, one per period (`None`: no point).
#[derive(Debug, Clone)]
pub struct SeriesValues {
    /// Its name in the legend.
    pub name: String,
    /// Its CSS class.
    pub class: String,
    /// One value per period.
    pub values: Vec<Option<i64>>,
}

fn line_plot(
    label: String,
    periods: &[String],
    series: Vec<SeriesValues>,
    scale: Scale,
) -> LinePlot {
    let x = |i: usize| -> f64 {
        let inner = WIDTH - LEFT - RIGHT;
        if periods.len() <= 1 {
            LEFT + inner / 2.0
        } else {
            LEFT + inner * i as f64 / (periods.len() - 1) as f64
        }
    };
    let series = series
        .into_iter()
        .map(|s| {
            let mut path = String::new();
            let mut points = Vec::new();
            let mut drawing = false;
            for (i, value) in s.values.iter().enumerate() {
                let Some(value) = *value else {
                    drawing = false;
                    continue;
                };
                let (px, py) = (coordinate(x(i)), coordinate(scale.y(value)));
                path.push_str(&format!(
                    "{}{} {} ",
                    if drawing { "L" } else { "M" },
                    px,
                    py
                ));
                drawing = true;
                points.push(Point {
                    x: px,
                    y: py,
                    period: periods[i].clone(),
                    value: value.to_string(),
                });
            }
            Series {
                name: s.name,
                class: s.class,
                path: path.trim_end().to_string(),
                points,
            }
        })
        .collect();
    LinePlot {
        width: WIDTH,
        height: HEIGHT,
        label,
        left: LEFT,
        top: TOP,
        right: WIDTH - RIGHT,
        bottom: HEIGHT - BOTTOM,
        x_ticks: periods
            .iter()
            .enumerate()
            .map(|(i, p)| Tick {
                at: coordinate(x(i)),
                label: p.clone(),
            })
            .collect(),
        y_ticks: scale
            .ticks()
            .into_iter()
            .map(|v| Tick {
                at: coordinate(scale.y(v)),
                label: v.to_string(),
            })
            .collect(),
        series,
    }
}

/// A horizontal bar chart, largest first.
#[derive(Debug, Clone, Serialize)]
pub struct BarChart {
    /// Width of the drawing.
    pub width: f64,
    /// Height of the drawing (grows with the bars).
    pub height: f64,
    /// What the chart shows, for screen readers.
    pub label: String,
    /// Where the bars start.
    pub left: f64,
    /// The bars, largest first.
    pub bars: Vec<Bar>,
}

/// One bar.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    /// Its label (left of the bar).
    pub label: String,
    /// Its value as shown (right of the bar).
    pub value: String,
    /// Top of the bar.
    pub y: String,
    /// Baseline of the bar's text.
    pub text_y: String,
    /// Length of the bar.
    pub length: String,
    /// Where the value is written.
    pub value_x: String,
}

/// Bars for `(label, value, shown value)`, sorted by value (largest first), then label.
pub fn bar_chart(label: String, mut items: Vec<(String, i64, String)>) -> BarChart {
    const ROW: f64 = 22.0;
    const BAR_LEFT: f64 = 72.0;
    const VALUE_ROOM: f64 = 120.0;
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let largest = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let inner = WIDTH - BAR_LEFT - VALUE_ROOM;
    let bars = items
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, shown))| {
            let length = inner * value.max(0) as f64 / largest as f64;
            let y = TOP + i as f64 * ROW;
            Bar {
                label,
                value: shown,
                y: coordinate(y),
                text_y: coordinate(y + ROW * 0.7),
                length: coordinate(length),
                value_x: coordinate(BAR_LEFT + length + 6.0),
            }
        })
        .collect::<Vec<_>>();
    BarChart {
        width: WIDTH,
        height: TOP * 2.0 + bars.len() as f64 * ROW,
        label,
        left: BAR_LEFT,
        bars,
    }
}

/// A coordinate with one decimal: the same text on every machine.
fn coordinate(value: f64) -> String {
    format!("{value:.1}")
}

/// 1, 2 or 5 times a power of ten, at least `rough` (and at least 1).
fn nice_step(rough: i64) -> i64 {
    let mut power = 1;
    loop {
        for factor in [1, 2, 5] {
            if factor * power >= rough {
                return factor * power;
            }
        }
        power *= 10;
    }
}

/// The smallest multiple of a nice step (a quarter of it, rounded) that is `>= value`.
fn round_up(value: i64) -> i64 {
    let step = nice_step((value / 4).max(1));
    ((value + step - 1) / step).max(1) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_run_downwards_and_gaps_break_the_line() {
        let periods: Vec<String> = ["2024-10", "2024-11", "2024-12"].map(String::from).into();
        let plot = rank_plot(
            "ranks".into(),
            &periods,
            vec![SeriesValues {
                name: "hot".into(),
                class: "hot".into(),
                values: vec![Some(1), None, Some(100)],
            }],
            100,
        );
        let series = &plot.series[0];
        assert_eq!(series.points.len(), 2);
        assert_eq!(series.points[0].y, coordinate(TOP));
        assert_eq!(series.points[1].y, coordinate(HEIGHT - BOTTOM));
        assert_eq!(series.path.matches('M').count(), 2, "{}", series.path);
        assert_eq!(
            plot.y_ticks
                .iter()
                .map(|t| t.label.as_str())
                .collect::<Vec<_>>(),
            ["1", "50", "100"]
        );
    }

    #[test]
    fn counts_start_at_zero_and_reach_the_largest_value() {
        let periods: Vec<String> = ["2024-11", "2024-12"].map(String::from).into();
        let plot = count_plot(
            "venues".into(),
            &periods,
            vec![SeriesValues {
                name: "venues".into(),
                class: "venues".into(),
                values: vec![Some(1430), Some(1515)],
            }],
        );
        let top = plot.y_ticks.last().unwrap().label.parse::<i64>().unwrap();
        assert!(top >= 1515, "{top}");
        assert_eq!(plot.y_ticks[0].label, "0");
        assert_eq!(plot.y_ticks[0].at, coordinate(HEIGHT - BOTTOM));
    }

    #[test]
    fn bars_are_sorted_largest_first_then_by_label() {
        let chart = bar_chart(
            "provinces".into(),
            vec![
                ("b".into(), 5, "5".into()),
                ("a".into(), 5, "5".into()),
                ("c".into(), 9, "9".into()),
            ],
        );
        let labels: Vec<_> = chart.bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["c", "a", "b"]);
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(3), 5);
        assert_eq!(nice_step(25), 50);
        assert_eq!(nice_step(100), 100);
        assert_eq!(round_up(1515), 2000);
        assert_eq!(round_up(0), 1);
    }
}
